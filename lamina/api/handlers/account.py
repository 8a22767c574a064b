"""GetAccountSettings."""

from __future__ import annotations

from typing import Any

from lamina.api.app import Call, operation


@operation("GetAccountSettings")
async def get_account_settings(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    return call.services.account_settings()
