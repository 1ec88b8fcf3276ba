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
    # every language folder's code (docs/languages.md), and what one folder shares with others
    folders = {p.parent.name for p in (REPO / "recipes").glob("*/toolchain.py")}
    assert {"rust", "c", "cxx", "zig", "go", "component"} <= folders
    for folder in folders:
        assert f"wasmbuild/_recipes/{folder}/toolchain.py" in names
    assert "wasmbuild/_recipes/c/cross.py" in names


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv made by `pip install .` (the README's install, no extras): pip compiles the
    package's .py files, the recipe folders' toolchain.py included."""
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)],
                             capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def test_an_installed_wasmbuild_runs_its_language_folders(venv: Path, tmp_path: Path) -> None:
    """init, toolchains, build and run of a C program from the installed package (not this
    checkout): the folders' code loads from site-packages; the SBOM's recipe digest is the
    checkout's (compiled __pycache__ beside the code does not count)."""
    import json

    project = tmp_path / "hello"
    project.mkdir()
    (project / "hello.c").write_text(Path(REPO / "examples" / "hello-c" / "hello.c").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(WASMBUILD_STORE=str(tmp_path / "store"), WASMBUILD_CACHE=str(tmp_path / "cache"))
    wb = [str(venv / "bin" / "wasmbuild")]
    for args in (["init", str(project)], ["toolchains", str(project)], ["build", str(project)]):
        done = subprocess.run([*wb, *args], capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    run = subprocess.run([*wb, "run", "hello:latest"], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0 and run.stdout.startswith("Hello from C"), run.stdout + run.stderr
    site = next((venv / "lib").glob("python3*/site-packages/wasmbuild/_recipes/c"))
    assert not str(site).startswith(str(REPO))
    doc = json.loads(subprocess.run([*wb, "inspect", "hello:latest", "--sbom", "--json"], capture_output=True,
                                    text=True, timeout=300, env=env, check=True).stdout)
    from wasmbuild.render.recipes import tree_digest

    recipe = [p for p in doc["packages"] if p["name"] == "wasmbuild-recipe-c"]
    assert recipe and tree_digest(REPO / "recipes" / "c") in json.dumps(recipe), recipe


def test_crun_builds_against_the_wasmtime_a_plain_pip_install_brings(venv: Path) -> None:
    """Issue 22 item 2: in a venv made by `pip install .` (the README's install, no extras),
    scripts/build-crun-wasm accepts the wasmtime pip chose: one exact pin serves both."""
    if os.geteuid() != 0:
        missing("the crun build needs root (apt-get build dependencies)")
    build = subprocess.run([str(REPO / "scripts" / "build-crun-wasm")], capture_output=True, text=True,
                           timeout=1800, env={**os.environ, "WASMBUILD_PYTHON": str(venv / "bin" / "python")})
    assert build.returncode == 0, build.stderr[-3000:]
    crun = Path(build.stdout.strip().splitlines()[-1])
    version = subprocess.run([str(crun), "--version"], capture_output=True, text=True, check=True).stdout
    assert "+WASM:wasmtime" in version, version
