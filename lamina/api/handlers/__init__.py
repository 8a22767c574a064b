"""Every API handler module; importing this package registers their operations."""

from lamina.api.handlers import account, aliases, functions, invoke, tags, versions  # noqa: F401
from lamina.api.handlers import layers  # noqa: F401
from lamina.api.handlers import concurrency  # noqa: F401
from lamina.api.handlers import permissions, urls  # noqa: F401
from lamina.api.handlers import eventinvoke  # noqa: F401
from lamina.api.handlers import esm  # noqa: F401
from lamina.api.handlers import codesigning, function_settings  # noqa: F401
