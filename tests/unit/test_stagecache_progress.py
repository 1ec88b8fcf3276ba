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
    assert sorted(rep.stages) == ["s0", "s1", "s2", "s3"]  # one row per stage, none lost
    assert all(s.end is not None for s in rep.stages.values())
    assert [s.cached for _, s in sorted(rep.stages.items())] == [True, False, True, False]
    assert list(rep.stages["s1"].tail) == [f"line {j}" for j in range(45, 50)]  # the last few
    shown = out.getvalue()
    assert "assembling" in shown
    assert "[s0] CACHED" in shown and "[s1] DONE" in shown
