"""Persistent stage caches: the `caches:` field's checks, and cache/mounts.py's lock and
crash rules (one writer at a time; a killed writer's cache is not reused)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wasmbuild.cache import mounts
from wasmbuild.errors import ConfigError, StepFailed
from wasmbuild.execute.keys import stage_key
from wasmbuild.load.loader import load
from wasmbuild.render.render import render

STAGE = ("wasmfile: 1\nstages:\n  app:\n    steps: ['true']\n    outputs: [a]\n{caches}image:\n"
         "  files: [{{from: app, path: a, dest: /a.wasm}}]\n  entrypoint: [a.wasm]\n")


def project(tmp_path: Path, caches: str):  # type: ignore[no-untyped-def]
    (tmp_path / "Wasmfile").write_text(STAGE.format(caches=caches))
    return render(load(tmp_path / "Wasmfile"))


@pytest.mark.parametrize("path", ["/abs", "../up", "$HOME/x", "a/../../b", "$WORK/.."])
def test_a_cache_path_outside_work_is_one_line_at_its_line(tmp_path: Path, path: str) -> None:
    with pytest.raises(ConfigError, match=r"is outside \$WORK") as err:
        project(tmp_path, f"    caches:\n      - {{name: t, path: {path!r}}}\n")
    text = str(err.value)
    assert "is outside $WORK" in text and "Wasmfile:7" in text, text


def test_caches_never_enter_the_stage_key(tmp_path: Path) -> None:
    plain = project(tmp_path, "").stages["app"]
    cached = project(tmp_path, "    caches: [{name: t, path: $WORK/target}]\n").stages["app"]
    assert cached.caches == (("t", "target"),)
    assert stage_key(plain, [], "r") == stage_key(cached, [], "r")


def test_two_writers_never_share_a_cache(tmp_path: Path) -> None:
    order: list[str] = []
    waited = threading.Event()

    def second() -> None:
        with mounts.mounted("app", [("t", "target")], "s", waited.set, root=tmp_path) as held:
            order.append("second:" + (held[0].data / "f").read_text())

    with mounts.mounted("app", [("t", "target")], "s", root=tmp_path) as held:
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(10)  # the second build waits, and says so
        time.sleep(0.2)
        (held[0].data / "f").write_text("first")
        order.append("first")
    thread.join()
    assert order == ["first", "second:first"]


def test_a_failing_step_keeps_the_cache_a_killed_writer_does_not(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="false"), mounts.mounted("app", [("t", "t")], "s", root=tmp_path) as held:
        (held[0].data / "f").write_text("kept")
        raise StepFailed(stage="app", index=1, total=1, step="false", exit_code=1, tail=[])
    with mounts.mounted("app", [("t", "t")], "s", root=tmp_path) as held:
        assert (held[0].data / "f").read_text() == "kept"
    # A writer killed inside (SIGKILL: no cleanup at all) leaves the cache marked incomplete.
    script = ("import os,sys; from pathlib import Path; from wasmbuild.cache import mounts\n"
              "with mounts.mounted('app', [('t', 't')], 's', root=Path(sys.argv[1])) as held:\n"
              "    (held[0].data / 'half').write_text('x'); os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)
    assert proc.returncode == -9
    with mounts.mounted("app", [("t", "t")], "s", root=tmp_path) as held:
        assert list(held[0].data.iterdir()) == []  # started empty, not from the half-written one


def test_unchanged_inputs_keep_the_previous_builds_mtime(tmp_path: Path) -> None:
    def run(files: dict[str, str]) -> dict[str, int]:
        src = tmp_path / "src"
        if src.exists():
            import shutil

            shutil.rmtree(src)
        for rel, text in files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(text)
        time.sleep(0.02)
        with mounts.mounted("app", [("t", "t")], "s", root=tmp_path / "caches") as held:
            mounts.restamp(src, held)
        return {rel: (src / rel).stat().st_mtime_ns for rel in files}

    first = run({"a.rs": "1", "lib/b.rs": "2"})
    second = run({"a.rs": "changed", "lib/b.rs": "2"})
    assert second["lib/b.rs"] == first["lib/b.rs"]  # unchanged: last build's mtime
    assert second["a.rs"] > first["a.rs"]  # changed: newer than anything built from it
    third = run({"a.rs": "1", "lib/b.rs": "2"})  # back to the first content: still new
    assert third["a.rs"] > second["a.rs"] and third["lib/b.rs"] == first["lib/b.rs"]
