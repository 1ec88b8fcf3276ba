"""The installed package carries the recipe library (recipes/ -> wasmbuild/_recipes)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_wheel_ships_recipes_and_builders(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("wasmbuild-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for recipe in ("rust", "c", "cpython-wasi"):
        assert f"wasmbuild/_recipes/{recipe}/recipe.yaml" in names
        assert f"wasmbuild/_recipes/{recipe}/stage.yaml.j2" in names
    assert "wasmbuild/_recipes/cpython-wasi/build.sh" in names
    assert "wasmbuild/_recipes/builders/python-wasi/Dockerfile" in names
