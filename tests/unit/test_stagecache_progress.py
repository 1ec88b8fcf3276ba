"""The live progress display with stages running in parallel threads."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from wasmbuild.ui import RichReporter


def test_rich_reporter_tracks_parallel_stages() -> None:
    out = io.StringIO()
    rep = RichReporter(console=Console(file=out, force_terminal=True, width=120))
    barrier = threading.Barrier(4)

    def stage(i: int) -> None:
        name = f"s{i}"
        barrier.wait()
        rep.stage_start(name)
        for j in range(50):
            rep.stage_log(name, f"[{name}] line {j}")
        rep.stage_end(name, cached=i % 2 == 0, seconds=0.1)

    threads = [threading.Thread(target=stage, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep.note("assembling")
    rep.close()
    tasks = {t.description.split("]")[1].split("[")[0]: t for t in rep.progress.tasks}
    assert sorted(tasks) == ["s0", "s1", "s2", "s3"]  # one row per stage, none lost
    assert all(t.finished for t in tasks.values())
    assert "cached" in tasks["s0"].description and "built" in tasks["s1"].description
    assert "assembling" in out.getvalue()
