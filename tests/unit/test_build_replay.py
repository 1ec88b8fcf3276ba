"""A no-op `build` is replayed (cache/results.py) while nothing it consulted changed, and runs
again when something did: an edit in place inside a folder input, the image gone from the store,
the stage's cache entry pruned. Builds that write elsewhere, `--no-cache` and `--json` are never
replayed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.pipeline import GOLDEN
from wasmbuild.cache import results

WASMFILE = """\
wasmfile: 1
stages:
  app:
    inputs: [hello.wasm]
    steps: ['cp "$SRC/hello.wasm" "$OUT/app.wasm"']
    outputs: [app.wasm]
image:
  files:
    - {from: app, path: app.wasm, dest: /app.wasm}
    - {src: assets, dest: /assets}
  entrypoint: [app.wasm]
  tags: [replayed:1]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WASMBUILD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WASMBUILD_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(results, "RACY_SECONDS", 0.0)  # the test's files are all fresh
    p = tmp_path / "p"
    (p / "assets").mkdir(parents=True)
    (p / "assets" / "data.txt").write_text("one\n")
    shutil.copy(GOLDEN, p / "hello.wasm")
    (p / "Wasmfile").write_text(WASMFILE)
    monkeypatch.chdir(p)
    return p


class Runs:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import wasmbuild.buildcmd as buildcmd

        self.count = 0
        real = buildcmd.run_build

        def counted(args: buildcmd.BuildArgs) -> None:
            self.count += 1
            real(args)
        monkeypatch.setattr(buildcmd, "run_build", counted)


def build(capsys: pytest.CaptureFixture[str], *more: str) -> str:
    from wasmbuild.__main__ import main

    assert main(["build", *more, "."]) == 0
    out = capsys.readouterr().out
    return out.split()[-1] if out.strip() else ""


def digest_of(store: Path) -> str:
    index = json.loads((store / "index.json").read_text())
    return next(m["digest"] for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"]
                == "replayed:1")


def test_a_no_op_build_is_replayed_and_each_change_runs_it_again(project: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    runs = Runs(monkeypatch)
    first = build(capsys)  # runs the stage: a process, so not remembered
    assert build(capsys) == first  # a no-op: remembered
    assert build(capsys) == first and runs.count == 2  # replayed
    used = [m for m in (tmp_path / "cache" / "stages").glob("*/meta.json")]
    assert used
    for meta in used:
        os.utime(meta, (1_000_000, 1_000_000))
    assert build(capsys) == first and runs.count == 2  # replayed, and the entries it used marked so
    assert all(meta.stat().st_mtime > 1_000_000 for meta in used)

    st = (project / "assets" / "data.txt").stat()  # same size, same mtime: as `cp -p` leaves it
    (project / "assets" / "data.txt").write_text("two\n")
    os.utime(project / "assets" / "data.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    edited = build(capsys)
    assert runs.count == 3 and edited != first and digest_of(tmp_path / "store") == edited

    build(capsys)  # remembered again
    shutil.rmtree(tmp_path / "store")
    assert build(capsys) == edited and runs.count == 5  # ran: the image is back in the store
    assert digest_of(tmp_path / "store") == edited

    build(capsys)
    stages = tmp_path / "cache" / "stages"
    for entry in stages.iterdir():
        if not entry.name.startswith("."):
            shutil.rmtree(entry)
    count = runs.count
    assert build(capsys) == edited and runs.count == count + 1  # the pruned stage ran again
    assert any(not e.name.startswith(".") for e in stages.iterdir())


@pytest.mark.parametrize("flags", [("--no-cache",), ("--json",), ("--output", "oci:out")])
def test_builds_asking_for_a_fresh_run_or_writing_elsewhere_are_not_replayed(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flags: tuple[str, ...]) -> None:
    from wasmbuild.__main__ import main

    runs = Runs(monkeypatch)
    for _ in range(3):
        assert main(["build", *flags, "."]) == 0
        capsys.readouterr()
    assert runs.count == 3
    if "--output" in flags:
        shutil.rmtree(project / "out")
        assert main(["build", *flags, "."]) == 0
        assert (project / "out" / "index.json").is_file()
