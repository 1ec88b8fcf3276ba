"""Terminal output: progress for long work (stderr), one-line errors, JSON for machines."""

from __future__ import annotations

import collections
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Reporter(Protocol):
    """Where a build reports progress (the CLI's display, a JSON log, or nothing)."""

    def stage_start(self, name: str) -> None: ...
    def stage_log(self, name: str, line: str) -> None: ...
    def stage_end(self, name: str, cached: bool, seconds: float) -> None: ...
    def note(self, text: str) -> None: ...
    def transfer(self, label: str, done: int, total: int = 0, finished: bool = False) -> None: ...


class NullReporter:
    def stage_start(self, name: str) -> None:
        pass

    def stage_log(self, name: str, line: str) -> None:
        pass

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def transfer(self, label: str, done: int, total: int = 0, finished: bool = False) -> None:
        pass


class PlainReporter:
    """Line-oriented progress on stderr (CI logs, pipes)."""

    def __init__(self, verbose: bool = False, quiet: bool = False):
        self.verbose = verbose
        self.quiet = quiet
        self.lock = threading.Lock()

    def _print(self, text: str) -> None:
        if not self.quiet:
            with self.lock:
                print(text, file=sys.stderr, flush=True)

    def stage_start(self, name: str) -> None:
        self._print(f"==> stage {name}")

    def stage_log(self, name: str, line: str) -> None:
        if self.verbose:
            self._print(f"    {line}")

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        self._print(f"    {name}: {'cached' if cached else 'built'} in {seconds:.1f}s")

    def note(self, text: str) -> None:
        self._print(text)

    def transfer(self, label: str, done: int, total: int = 0, finished: bool = False) -> None:
        """Bytes moved so far (layer compression, a push): only the live display shows them."""

    def close(self) -> None:
        pass


#: Log lines a running stage shows under its line (buildx shows a few; all of them scroll
#: past with ``-v`` or ``--progress plain``).
TAIL = 5


@dataclass
class _Stage:
    start: float
    end: float | None = None
    cached: bool = False
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL))


@dataclass
class _Transfer:
    start: float
    done: int = 0
    total: int = 0
    end: float | None = None


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class RichReporter(PlainReporter):
    """buildx's live display (interactive terminals): a header with the elapsed time, then a
    line per stage in start order with its state and time; a running stage shows its last
    :data:`TAIL` log lines under it, a finished one collapses to ``DONE``/``CACHED`` and its
    time; byte transfers (layer compression, pushes) show bytes and rate. The display is
    redrawn from this state by Rich's refresh thread, so parallel stages never interleave."""

    def __init__(self, verbose: bool = False, console: Any = None):
        super().__init__(verbose)
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=True)
        self.started = time.monotonic()
        self.stages: dict[str, _Stage] = {}
        self.transfers: dict[str, _Transfer] = {}
        # stdout stays the result's channel (--json, inspect): only stderr goes through the display.
        self.live = Live(console=self.console, get_renderable=self._render, refresh_per_second=8,
                         transient=False, redirect_stdout=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        with self.lock:
            stages = [(n, s.start, s.end, s.cached, list(s.tail)) for n, s in self.stages.items()]
            transfers = [(n, t.start, t.end, t.done, t.total) for n, t in self.transfers.items()]
        finished = sum(1 for s in stages if s[2] is not None)
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True)
        state = "Built" if stages and finished == len(stages) and not self._running_transfers(
            transfers) else "Building"
        grid.add_row(Text(f"[+] {state} {now - self.started:.1f}s ({finished}/{len(stages)} stages)",
                          style="bold blue"), "")
        for name, start, end, cached, tail in stages:
            if end is None:
                grid.add_row(Text(f" => [{name}] running"), Text(f"{now - start:.1f}s"))
                for line in tail:
                    grid.add_row(Text(f" => => {line}", style="dim"), "")
            else:
                word = "CACHED" if cached else "DONE"
                grid.add_row(Text(f" => [{name}] {word}", style="blue"), Text(f"{end - start:.1f}s", style="blue"))
        for label, start, end, done, total in transfers:
            took = max((end or now) - start, 1e-6)
            amount = f"{human_bytes(done)} / {human_bytes(total)}" if total else human_bytes(done)
            word = "DONE " if end is not None else ""
            grid.add_row(Text(f" => {word}{label} {amount} {human_bytes(done / took)}/s",
                              style="blue" if end is not None else ""),
                         Text(f"{took:.1f}s"))
        return grid

    @staticmethod
    def _running_transfers(transfers: list[tuple[str, float, float | None, int, int]]) -> bool:
        return any(t[2] is None for t in transfers)

    def stage_start(self, name: str) -> None:
        with self.lock:
            self.stages[name] = _Stage(time.monotonic())

    def stage_log(self, name: str, line: str) -> None:
        text = line.rstrip("\n")
        if text.startswith(f"[{name}] "):  # the stage's name is on its own line already
            text = text[len(name) + 3:]
        if self.verbose:
            self.console.print(f"  {line}", markup=False, highlight=False)
        with self.lock:
            if name in self.stages:
                self.stages[name].tail.append(text)

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        with self.lock:
            stage = self.stages.setdefault(name, _Stage(time.monotonic() - seconds))
            stage.end, stage.cached = stage.start + seconds, cached
        self.live.refresh()

    def transfer(self, label: str, done: int, total: int = 0, finished: bool = False) -> None:
        with self.lock:
            t = self.transfers.setdefault(label, _Transfer(time.monotonic()))
            t.done, t.total = done, total
            t.end = time.monotonic() if finished else None  # a push may start another blob

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.live.stop()


def reporter(json_mode: bool, verbose: bool) -> PlainReporter:
    if json_mode and not verbose:
        return PlainReporter(quiet=True)
    if sys.stderr.isatty():
        return RichReporter(verbose)
    return PlainReporter(verbose)


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@contextlib.contextmanager
def after_a_moment(doing: str, done: str, delay: float = 0.5) -> Iterator[None]:
    """Work that is usually quick but sometimes not (compiling a module for this machine before
    its first run): on a terminal, once it has taken ``delay`` seconds, a spinner line
    ``⠙ <doing> 0:00:02`` on stderr, replaced at the end by ``wasmbuild: <done> in 4.7 s``.
    Nothing at all when it is quick or stderr is no terminal (pipes, CI logs, ``--json``)."""
    if not sys.stderr.isatty():
        yield
        return
    finished = threading.Event()
    start = time.monotonic()
    shown = False

    def spin() -> None:
        nonlocal shown
        if finished.wait(delay):
            return
        shown = True
        tick = 0
        while not finished.is_set():
            elapsed = int(time.monotonic() - start)
            sys.stderr.write(f"\r\x1b[2K{SPINNER[tick % len(SPINNER)]} {doing} "
                             f"{elapsed // 3600}:{elapsed // 60 % 60:02}:{elapsed % 60:02}")
            sys.stderr.flush()
            tick += 1
            finished.wait(0.1)

    thread = threading.Thread(target=spin, name="after-a-moment", daemon=True)
    thread.start()
    try:
        yield
    finally:
        finished.set()
        thread.join()
        if shown:
            sys.stderr.write(f"\r\x1b[2Kwasmbuild: {done} in {time.monotonic() - start:.1f} s\n")
            sys.stderr.flush()
