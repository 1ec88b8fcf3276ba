"""The installed package carries the recipe library (recipes/ -> wasmbuild/_recipes)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import missing

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


def test_crun_builds_against_the_wasmtime_a_plain_pip_install_brings(tmp_path: Path) -> None:
    """Issue 22 item 2: in a venv made by `pip install .` (the README's install, no extras),
    scripts/build-crun-wasm accepts the wasmtime pip chose: one exact pin serves both."""
    if os.geteuid() != 0:
        missing("the crun build needs root (apt-get build dependencies)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)],
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]
    build = subprocess.run([str(REPO / "scripts" / "build-crun-wasm")], capture_output=True, text=True,
                           timeout=1800, env={**os.environ, "WASMBUILD_PYTHON": str(venv / "bin" / "python")})
    assert build.returncode == 0, build.stderr[-3000:]
    crun = Path(build.stdout.strip().splitlines()[-1])
    version = subprocess.run([str(crun), "--version"], capture_output=True, text=True, check=True).stdout
    assert "+WASM:wasmtime" in version, version
