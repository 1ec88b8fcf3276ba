"""``--progress auto|plain|tty|json``: how a build reports, with buildx's names for the modes.

* ``plain``: one line per event on stderr, for CI logs and scripts. Every line is
  ``SECONDS EVENT STAGE [DETAIL]`` (seconds since the build started, three decimals, padded), and
  EVENT is one of ``start``, ``log`` (a line of a step's output: plain shows them all, as
  buildx's plain mode does), ``done`` (DETAIL: ``built|cached SECONDSs``) or ``note`` (no STAGE).
  The shape is a contract: tests and scripts split lines on whitespace.
* ``json``: one JSON object per event on stderr (``{"time", "event", "stage", ...}``), the same
  events as ``plain``; a build's result stays on stdout (``--json``).
* ``tty``: the live display, even when stderr is not a terminal.
* ``auto``: ``tty`` on a terminal, else the short line-per-stage report.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from .errors import ConfigError
from .ui import PlainReporter, RichReporter, reporter

MODES = ("auto", "plain", "tty", "json")


class _Timed:
    """Events stamped with the time since this reporter was made, written whole (thread-safe)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def _write(self, text: str) -> None:
        out = self.stream or sys.stderr
        with self.lock:
            out.write(text + "\n")
            out.flush()

    def _now(self) -> float:
        return time.monotonic() - self.started

    def transfer(self, label: str, done: int, total: int = 0, finished: bool = False) -> None:
        """Not an event here: plain and json lines are a contract, unchanged by byte counts."""

    def close(self) -> None:
        pass


class TimedPlainReporter(_Timed):
    """``--progress plain``: ``SECONDS EVENT STAGE [DETAIL]`` lines."""

    def _event(self, event: str, stage: str, detail: str = "") -> None:
        line = f"{self._now():9.3f} {event:<5} {stage}"
        self._write(f"{line} {detail}" if detail else line)

    def stage_start(self, name: str) -> None:
        self._event("start", name)

    def stage_log(self, name: str, line: str) -> None:
        self._event("log", name, line.rstrip("\n"))

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        self._event("done", name, f"{'cached' if cached else 'built'} {seconds:.3f}s")

    def note(self, text: str) -> None:
        self._write(f"{self._now():9.3f} note  {text}")


class JsonEventReporter(_Timed):
    """``--progress json``: one JSON object per event."""

    def _event(self, event: str, **fields: Any) -> None:
        self._write(json.dumps({"time": round(self._now(), 3), "event": event, **fields}, sort_keys=True))

    def stage_start(self, name: str) -> None:
        self._event("start", stage=name)

    def stage_log(self, name: str, line: str) -> None:
        self._event("log", stage=name, line=line.rstrip("\n"))

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        self._event("done", stage=name, cached=cached, seconds=round(seconds, 3))

    def note(self, text: str) -> None:
        self._event("note", text=text)


ProgressReporter = PlainReporter | TimedPlainReporter | JsonEventReporter


def progress_reporter(mode: str, json_mode: bool, verbose: bool) -> ProgressReporter:
    """The reporter for ``--progress MODE`` (``auto`` keeps the historical choice: quiet with
    ``--json`` unless ``-v``, the live display on a terminal, else a line per stage)."""
    if mode == "auto":
        return reporter(json_mode, verbose)
    if mode == "plain":
        return TimedPlainReporter()
    if mode == "json":
        return JsonEventReporter()
    if mode == "tty":
        from rich.console import Console

        return RichReporter(verbose, Console(stderr=True, force_terminal=True))
    raise ConfigError(f"--progress {mode!r} is not a progress mode", hint=f"use one of {', '.join(MODES)}")
