"""``kill -9`` a build at chosen points, rebuild, and check nothing is left half-done.

How the points are hit (no timing games): the process is stopped exactly there by
``WASMBUILD_TEST_PAUSE_AT`` (see ``wasmbuild/testhooks.py``), which writes a marker and sleeps;
the test waits for the marker and SIGKILLs the whole process group. A kill "during a stage" uses
a step that sleeps while a flag file exists. After each kill the rebuild must succeed with the
digest a clean build gives, and the store and cache must be consistent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_cache import (
    assert_store_consistent,
    build,
    env_for,
    ran,
    wasmbuild,
    write_project,
)

pytestmark = pytest.mark.integration


def _slow_first_stage(wf: Path, mark: Path) -> None:
    """Make stage a sleep (printing its pid) while ``$MARK/slow`` exists; same key either way."""
    text = wf.read_text()
    slow = '      - "if [ -e $MARK/slow ]; then echo $$ > $MARK/pid; sleep 120; fi"\n'
    text = text.replace('      - "echo a >> $MARK/runs"\n',
                        '      - "echo a >> $MARK/runs"\n' + slow, 1)
    wf.write_text(text)


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"build ended ({proc.returncode}) before the kill point:\n"
                                 f"{err.decode()}")
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _check_cache(cache: Path) -> None:
    from wasmbuild.cache.stages import StageCache

    sc = StageCache(cache)
    for entry in sc.entries():
        assert sc.verified(entry.key) is not None, f"cache entry {entry.key} is damaged"


POINTS = ["stage", "stage-store", "layer", "image", "write:index.json"]


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_then_rebuild(tmp_path: Path, point: str) -> None:
    mark = tmp_path / "mark"
    wf = write_project(tmp_path / "proj", mark)
    _slow_first_stage(wf, mark)
    reference = build(tmp_path / "clean", wf)  # a clean build of the same project, elsewhere

    state = tmp_path / "state"
    old_digest = None
    if point == "write:index.json":
        # kill while the store's index is being replaced: start from a store that has a tag
        (tmp_path / "proj" / "main.py").write_text("print('old')\n")
        old_digest = build(state, wf)["digest"]
        (tmp_path / "proj" / "main.py").write_text("print('hello')\n")
    extra: dict[str, str] = {}
    if point == "stage":
        (mark / "slow").touch()
        marker = mark / "pid"
    else:
        marker = tmp_path / "paused"
        extra = {"WASMBUILD_TEST_PAUSE_AT": point, "WASMBUILD_TEST_PAUSE_FILE": str(marker),
                 "WASMBUILD_TEST_PAUSE_SECONDS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "wasmbuild", "build", str(wf), "--json"],
                            env=env_for(state, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        got = _wait_for(marker, proc)
        _kill_group(proc.pid)
        if point == "stage":
            _kill_group(int(got))  # the step runs in its own session (so ^C can kill it)
    finally:
        _kill_group(proc.pid)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    (mark / "slow").unlink(missing_ok=True)

    # what the killed build left behind is still a valid store: old tags intact, nothing new
    assert_store_consistent(state / "store")
    tags = json.loads(wasmbuild(state, "images", "--json").stdout) if (
        state / "store" / "index.json").exists() else []
    assert [t["digest"] for t in tags] == ([old_digest] if old_digest else [])
    _check_cache(state / "cache")

    again = build(state, wf)
    assert again["digest"] == reference["digest"]
    if point in ("layer", "image", "write:index.json"):
        assert ran(again) == set()  # the stages had finished and were cached before the kill
    assert_store_consistent(state / "store")
    [tag] = json.loads(wasmbuild(state, "images", "--json").stdout)
    assert tag["digest"] == reference["digest"]
    _check_cache(state / "cache")
    out = wasmbuild(state, "run", "cachetest:latest", check=False)
    assert out.returncode == 0, out.stderr

    # leftovers of the dead build were never visible as content, and the rebuild swept them:
    # cache temp dirs and half-written layers (their writer's pid is dead); its work dir is
    # swept once a minute old (a live build may be between creating and locking it)
    assert list((state / "cache" / "stages").glob(".tmp-*")) == []
    assert list((state / "store" / "blobs" / "sha256").glob(".tmp-*")) == []
    builds = state / "cache" / "builds"
    for d in builds.iterdir():
        os.utime(d, (1, 1))
    build(state, wf)
    assert list(builds.iterdir()) == []
    from wasmbuild.oci.layout import Layout

    Layout(state / "store").gc()  # what is left: unreferenced blobs and atomic-write temps
    names = [p.name for p in (state / "store" / "blobs" / "sha256").iterdir()]
    assert all(len(n) == 64 for n in names), names
