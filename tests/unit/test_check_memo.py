"""`check`'s result is replayed while nothing it looked at changed (cache/results.py): every file
it read, every path it looked up (a missing one too), every directory it listed, every module it
imported; a run that wrote outside the cache, started a process or saw a fresh file is not kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wasmbuild.cache import results

WASMFILE = """\
wasmfile: 1
image:
  files:
    - {src: app.wasm, dest: /app.wasm}
  entrypoint: [app.wasm]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WASMBUILD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(results, "RACY_SECONDS", 0.0)  # the test's files are all fresh
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "Wasmfile").write_text(WASMFILE)
    (tmp_path / "p" / "app.wasm").write_bytes(b"\0asm\1\0\0\0")
    monkeypatch.chdir(tmp_path / "p")
    return tmp_path / "p"


class Counted:
    """The command under test: reads what it is told, prints, counts its runs."""

    def __init__(self, *, reads: tuple[str, ...] = (), looks: tuple[str, ...] = (), lists: tuple[str, ...] = (),
                 writes: str | None = None, spawns: bool = False) -> None:
        self.runs, self.reads, self.looks, self.lists, self.writes, self.spawns = 0, reads, looks, lists, writes, spawns

    def __call__(self) -> int:
        self.runs += 1
        text = "".join(Path(p).read_text() for p in self.reads)
        seen = [Path(p).exists() for p in self.looks]
        listed = [sorted(os.listdir(p)) for p in self.lists]
        if self.writes:
            Path(self.writes).write_text("x")
        if self.spawns:
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"read {len(text)} seen {seen} listed {listed}")
        print("to stderr", file=sys.stderr)
        return 3


def twice(cmd: Counted, capsys: pytest.CaptureFixture[str], argv: list[str] | None = None) -> list[str]:
    outs = []
    for _ in range(2):
        assert results.replay_or_run(argv or ["check", "x"], cmd) == 3
        got = capsys.readouterr()
        outs.append(got.out + "|" + got.err)
    return outs


def test_an_identical_run_is_replayed_with_its_output_and_code(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    cmd = Counted(reads=("Wasmfile",), looks=("missing.txt",), lists=(".",))
    first, second = twice(cmd, capsys)
    assert cmd.runs == 1
    assert first == second and "read 92 seen [False]" in first and "to stderr" in first


@pytest.mark.parametrize("change", ["edit read file", "same size other bytes", "missing file appears",
                                    "entry added to listed dir", "environment", "argv"])
def test_a_change_to_what_the_run_saw_runs_it_again(project: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    cmd = Counted(reads=("Wasmfile",), looks=("missing.txt",), lists=(".",))
    assert results.replay_or_run(["check", "x"], cmd) == 3
    argv = ["check", "x"]
    if change == "edit read file":
        (project / "Wasmfile").write_text(WASMFILE + "# more\n")
    elif change == "same size other bytes":  # as `cp -p` would leave it: same size and mtime
        st = (project / "Wasmfile").stat()
        (project / "Wasmfile").write_text(WASMFILE.replace("app.wasm]", "app.wasn]"))
        os.utime(project / "Wasmfile", ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "missing file appears":
        (project / "missing.txt").write_text("")
    elif change == "entry added to listed dir":
        (project / "sub").mkdir()
    elif change == "environment":
        monkeypatch.setenv("WASMBUILD_SOMETHING", "1")
    else:
        argv = ["check", "y"]
    assert results.replay_or_run(argv, cmd) == 3
    assert cmd.runs == 2


def test_unrelated_changes_replay(project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cmd = Counted(reads=("Wasmfile",))
    assert results.replay_or_run(["check", "x"], cmd) == 3
    (project / "other.txt").write_text("not listed, not read")
    (tmp_path / "elsewhere").mkdir()
    assert results.replay_or_run(["check", "x"], cmd) == 3
    assert cmd.runs == 1


@pytest.mark.parametrize("kind", ["writes", "spawns", "fresh"])
def test_a_run_with_effects_or_fresh_inputs_is_not_remembered(project: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    if kind == "fresh":
        monkeypatch.setattr(results, "RACY_SECONDS", 2.0)  # the Wasmfile was written just now
    cmd = Counted(reads=("Wasmfile",), writes="out.txt" if kind == "writes" else None, spawns=kind == "spawns")
    twice(cmd, capsys)
    assert cmd.runs == 2


def test_check_through_main_is_replayed_and_sees_an_edit(project: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from wasmbuild.__main__ import main

    calls: list[int] = []
    import wasmbuild.check as check

    real = check.check_command
    monkeypatch.setattr(check, "check_command", lambda *a: calls.append(1) or real(*a))
    assert main(["check", "Wasmfile"]) == 0
    assert main(["check", "Wasmfile"]) == 0
    assert len(calls) == 1 and capsys.readouterr().err.count("ok: 1 file(s) checked") == 2
    (project / "Wasmfile").write_text(WASMFILE.replace("[app.wasm]", "[nope.wasm]"))
    assert main(["check", "Wasmfile"]) == 2
    assert len(calls) == 2 and "entrypoint 'nope.wasm'" in capsys.readouterr().err


def test_a_replay_keeps_the_order_of_stdout_and_stderr(project: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    class Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, text: str) -> int:
            seen.append(f"{self.name}:{text}")
            return len(text)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdout", Stream("out"))
    monkeypatch.setattr(sys, "stderr", Stream("err"))

    calls: list[int] = []

    def command() -> int:
        calls.append(1)
        print("line", end="")
        print("\x1b[1A\x1b[2Kprogress", file=sys.stderr, end="")
        print("done", end="")
        return 0

    runs = []
    for _ in range(2):
        assert results.replay_or_run(["check", "order"], command) == 0
        runs.append([w for w in seen if not w.endswith(":")])
        seen.clear()
    assert runs[0] == runs[1] == ["out:line", "err:\x1b[1A\x1b[2Kprogress", "out:done"]
    assert len(calls) == 1  # the second was the replay
