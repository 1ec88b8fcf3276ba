"""``build --target STAGE`` checks only what that stage needs (issue 22, item 4): a Wasmfile whose
``image:`` is not ready, or that has none, builds its stages as buildx builds a target stage
whatever the final stage says; a build of the image still refuses it in one line."""

from __future__ import annotations

import contextlib
import io
import subprocess
import textwrap
from pathlib import Path

import pytest

from wasmbuild.check import check_wasmfile
from wasmbuild.errors import ConfigError
from wasmbuild.pipeline import prepare

STAGES = """\
wasmfile: 1
stages:
  gen:
    steps: ["printf hi > $OUT/a.txt"]
    outputs: [a.txt]
  unused:
    steps: ["false"]
    outputs: [b.txt]
"""
#: An image still being written: its entrypoint is not among its files (line 12).
NOT_READY = STAGES + """\
image:
  files:
    - {from: gen, path: a.txt, dest: /a.txt}
  entrypoint: [x.wasm]
"""
#: An image half typed: no entrypoint yet, a misspelt key, a stage output not declared yet.
HALF_TYPED = STAGES + """\
image:
  fils: []
  files:
    - {from: gen, path: later.wasm, dest: /app.wasm}
"""
NOT_AMONG = "entrypoint 'x.wasm' (/x.wasm) is not among the image files"
NO_IMAGE = ("the Wasmfile has no `image:` section (add an `image:` section with `files` and an "
            "`entrypoint` as docs/wasmfile.md shows, or build one stage with "
            "`wasmbuild build --target STAGE`)")


def _wasmfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p" / "Wasmfile"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("text", [NOT_READY, HALF_TYPED, STAGES], ids=["not-ready", "half-typed", "stages-only"])
def test_target_plans_the_stage_whatever_the_image_says(tmp_path: Path, text: str) -> None:
    the_plan = prepare(_wasmfile(tmp_path, text), target="gen")
    assert the_plan.order == ("gen",) and the_plan.target == "gen"
    assert the_plan.project.model.image_ is None  # not needed, so neither checked nor kept
    assert the_plan.to_json()["image"] is None


def test_a_build_of_the_image_still_refuses_a_not_ready_one(tmp_path: Path) -> None:
    path = _wasmfile(tmp_path, NOT_READY)
    with pytest.raises(ConfigError) as info:
        prepare(path)
    assert str(info.value) == f"{path}:12: {NOT_AMONG} (add it under image.files with that dest)"
    assert check_wasmfile(path) == [str(info.value)]


def test_a_build_of_the_image_refuses_a_half_typed_one(tmp_path: Path) -> None:
    path = _wasmfile(tmp_path, HALF_TYPED)
    problems = check_wasmfile(path)
    assert f"{path}:9: missing required key 'entrypoint' in image (see docs/wasmfile.md)" in problems
    assert any(p.startswith(f"{path}:10: unknown key 'fils' in image (did you mean 'files'?") for p in problems)


def test_a_build_of_the_image_says_how_to_add_a_missing_one(tmp_path: Path) -> None:
    path = _wasmfile(tmp_path, STAGES)
    with pytest.raises(ConfigError) as info:
        prepare(path)
    assert str(info.value) == f"{path}:1: {NO_IMAGE}"
    assert len(info.value.problems) == 1
    with pytest.raises(ConfigError) as info:
        prepare(_wasmfile(tmp_path, STAGES + "image:\n"))
    assert str(info.value) == f"{path}:9: `image:` is empty" + NO_IMAGE.partition(" section")[2]


def test_check_warns_about_a_stages_only_wasmfile(tmp_path: Path) -> None:
    path = _wasmfile(tmp_path, STAGES)
    warnings: list[str] = []
    assert check_wasmfile(path, warnings) == []
    assert warnings == [f"{path}: no `image:` section: only `wasmbuild build --target STAGE` builds "
                        "from this Wasmfile (to build an image, add `image:`, docs/wasmfile.md)"]


def test_target_still_checks_the_stages(tmp_path: Path) -> None:
    path = _wasmfile(tmp_path, STAGES.replace("    outputs: [a.txt]", "    outptus: [a.txt]"))
    with pytest.raises(ConfigError, match=r"Wasmfile:5: unknown key 'outptus' in stages.gen "
                                          r"\(did you mean 'outputs'\?"):
        prepare(path, target="gen")
    with pytest.raises(ConfigError, match=r"--target names unknown stage 'nope'"):
        prepare(_wasmfile(tmp_path, STAGES), target="nope")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    from wasmbuild.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("text", [NOT_READY, STAGES], ids=["not-ready", "stages-only"])
def test_the_command_builds_the_target_and_refuses_the_image(tmp_path: Path, text: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMBUILD_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("WASMBUILD_CACHE", str(tmp_path / "cache"))
    path = _wasmfile(tmp_path, text)
    # The sandbox is not what this tests (tests/integration/test_sandbox.py is): the step is printf.
    built = _cli("build", "--target", "gen", "-o", f"local:{tmp_path / 'out'}", "--sandbox", "off",
                 str(path))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "out" / "a.txt").read_text() == "hi"
    refused = _cli("build", "--sandbox", "off", str(path))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines == [f"error: {path}:12: {NOT_AMONG} (add it under image.files with that dest)"
                     if text == NOT_READY else f"error: {path}:1: {NO_IMAGE}"]
