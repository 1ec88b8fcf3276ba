"""What every test tier shares: CI never skips an integration test for a missing component."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str) -> NoReturn:
    """Skip locally; fail in CI, where every integration component must be present."""
    if in_ci():
        pytest.fail(f"CI: {what}", pytrace=False)
    pytest.skip(what)


def require(tool: str) -> str:
    """The path of ``tool`` (scripts/bootstrap --test installs them all)."""
    return shutil.which(tool) or missing(f"{tool} is not installed (run scripts/bootstrap --test)")
