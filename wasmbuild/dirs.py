"""Per-user directories (overridable by environment variables, as tests and CI do)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("WASMBUILD_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("wasmbuild"))


def source_date_epoch() -> int:
    """The only clock a build reads: ``SOURCE_DATE_EPOCH`` or 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        from .errors import ConfigError

        raise ConfigError(
            f"SOURCE_DATE_EPOCH={raw!r} is not an integer",
            hint="set it to seconds since 1970, e.g. $(git log -1 --format=%ct)",
        ) from None
    return max(value, 0)
