"""Tags on Lambda resources: functions, event source mappings, code signing configs.

Each kind of resource keeps its tags in one field of its stored document; a
`TagSet` applies AWS's rules (at most 50 per resource, an empty TagResource is
refused) to that field, so the three owners share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lamina.errors import InvalidParameterValueException
from lamina.store.base import Doc, MetadataStore

TAG_LIMIT = 50


def tag_limit_check(count: int) -> None:
    if count > TAG_LIMIT:
        raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")


class TagSet:
    """Tags in `field` of the document `locate(resource ARN)` returns as (kind, key, doc).

    `locate` raises the owner's not-found (or wrong-ARN) error.
    """

    def __init__(self, store: MetadataStore, field: str,
                 locate: Callable[[str], tuple[str, str, Doc]]) -> None:
        self.store = store
        self.field = field
        self.locate = locate

    def list(self, resource: str) -> dict[str, str]:
        return dict(self.locate(resource)[2].get(self.field) or {})

    def tag(self, resource: str, tags: dict[str, str]) -> None:
        if not tags:
            raise InvalidParameterValueException("An error occurred and the request cannot be processed.")
        with self.store.transaction():
            kind, key, doc = self.locate(resource)
            merged = {**(doc.get(self.field) or {}), **tags}
            tag_limit_check(len(merged))
            doc[self.field] = merged
            self.store.put(kind, key, doc)

    def untag(self, resource: str, keys: Iterable[str]) -> None:
        with self.store.transaction():
            kind, key, doc = self.locate(resource)
            drop = set(keys)
            doc[self.field] = {k: v for k, v in (doc.get(self.field) or {}).items() if k not in drop}
            self.store.put(kind, key, doc)
