#!/usr/bin/env python3
"""Regenerate lamina/model/lambda-2015-03-31.json from the installed botocore.

The AWS service model is Lamina's wire contract (STYLE.md §8). We keep a copy
without documentation strings; CI regenerates it and fails on a diff
(`scripts/gen_model.py --check`).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import botocore

SOURCE = Path(botocore.__file__).parent / "data/lambda/2015-03-31/service-2.json.gz"
TARGET = Path(__file__).resolve().parent.parent / "lamina/model/lambda-2015-03-31.json"


def strip(node: object) -> object:
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("documentation", "examples")}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main() -> int:
    model = strip(json.loads(gzip.decompress(SOURCE.read_bytes())))
    text = json.dumps(model, indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} differs from botocore {botocore.__version__}; run scripts/gen_model.py")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET} from botocore {botocore.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
