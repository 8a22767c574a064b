"""Every API handler module; importing this package registers their operations."""

from lamina.api.handlers import account, aliases, functions, invoke, tags, versions  # noqa: F401
