"""The pre-commit hook, installed by pre-commit itself from this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, require

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


def test_precommit_hook_passes_good_and_fails_bad(tmp_path: Path) -> None:
    require("git")
    precommit = shutil.which("pre-commit") or str(Path(os.sys.executable).with_name("pre-commit"))
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    repo = tmp_path / "user-repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {head}\n    hooks:\n      - id: wasmbuild-check\n"
    )
    (repo / "hello.rs").write_text("fn main() {}\n")
    (repo / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  app:\n    recipe: rust\n    with: {source: hello.rs}\n"
        "image:\n  files: [{from: app, path: app.wasm, dest: /app.wasm}]\n  entrypoint: [app.wasm]\n"
    )
    _git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(Path("/tmp/wasmbuild-test-pre-commit-home"))}
    good = subprocess.run(
        [precommit, "run", "--all-files"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert good.returncode == 0, good.stdout + good.stderr

    (repo / "Wasmfile").write_text((repo / "Wasmfile").read_text().replace("source:", "sauce:"))
    _git(repo, "add", ".")
    bad = subprocess.run(
        [precommit, "run", "--all-files"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert bad.returncode != 0
    assert "no parameter 'sauce'" in bad.stdout and "Wasmfile:5" in bad.stdout  # the line of `with:`, where sauce is
