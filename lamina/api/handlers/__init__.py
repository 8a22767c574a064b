"""Every API handler module; importing this package registers their operations."""

from lamina.api.handlers import (  # noqa: F401  # noqa: F401  # noqa: F401
    account,
    aliases,
    codesigning,
    concurrency,
    esm,
    eventinvoke,
    function_settings,
    functions,
    invoke,
    layers,
    permissions,
    tags,
    urls,
    versions,
)
