"""Bounds on what a build may take: a stage's wall time and output size, and the number of
entries in the image layer (enforced by the executors and by ``assemble``).

A Wasmfile from someone else's repository must not be able to hang CI or fill its disk. Each
bound has a default, an environment variable to change it for a whole build, and (for time) a
per-stage ``timeout:`` in the Wasmfile. Exceeding one is a :class:`BuildError` (exit 3).
"""

from __future__ import annotations

import os

from ..errors import ConfigError
from ..load.model import parse_duration

DEFAULT_STAGE_TIMEOUT = 3600.0  # a CPython build takes minutes; an hour is generous
DEFAULT_MAX_OUTPUT = 4 << 30  # bytes of one stage's $OUT
DEFAULT_MAX_LAYER_FILES = 100_000  # CPython's stdlib is ~2,000 files


def stage_timeout(declared: float | None) -> float:
    """Seconds a stage may run: its ``timeout:``, else ``WASMBUILD_STAGE_TIMEOUT``, else 1 h."""
    if declared is not None:
        return declared
    raw = os.environ.get("WASMBUILD_STAGE_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_STAGE_TIMEOUT
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(f"WASMBUILD_STAGE_TIMEOUT: {exc}") from None


def max_output() -> int:
    """Bytes a stage's ``$OUT`` may hold: ``WASMBUILD_MAX_OUTPUT`` (e.g. ``500M``) or 4 GiB."""
    raw = os.environ.get("WASMBUILD_MAX_OUTPUT", "").strip()
    if not raw:
        return DEFAULT_MAX_OUTPUT
    from ..cache.prune import parse_size

    return parse_size(raw, "WASMBUILD_MAX_OUTPUT")


def max_layer_files() -> int:
    """Entries (files, directories, links) the image layer may hold: ``WASMBUILD_MAX_LAYER_FILES``."""
    raw = os.environ.get("WASMBUILD_MAX_LAYER_FILES", "").strip()
    if not raw:
        return DEFAULT_MAX_LAYER_FILES
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"WASMBUILD_MAX_LAYER_FILES={raw!r} is not a positive number of files")
    return int(raw)



def check_environment() -> None:
    """Parse every limit's environment variable now: a bad value is refused before any stage runs,
    not when the first stage that uses it starts."""
    stage_timeout(None)
    max_output()
    max_layer_files()


def describe(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
