"""Terminal output: progress for long work (stderr), one-line errors, JSON for machines."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Protocol


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Reporter(Protocol):
    """Where a build reports progress (the CLI's display, a JSON log, or nothing)."""

    def stage_start(self, name: str) -> None: ...
    def stage_log(self, name: str, line: str) -> None: ...
    def stage_end(self, name: str, cached: bool, seconds: float) -> None: ...
    def note(self, text: str) -> None: ...


class NullReporter:
    def stage_start(self, name: str) -> None:
        pass

    def stage_log(self, name: str, line: str) -> None:
        pass

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        pass

    def note(self, text: str) -> None:
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

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A live display of the stages running now (interactive terminals)."""

    def __init__(self, verbose: bool = False, console: Any = None):
        super().__init__(verbose)
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.started = time.monotonic()
        self.progress.start()

    def stage_start(self, name: str) -> None:
        with self.lock:
            self.tasks[name] = self.progress.add_task(f"stage [bold]{name}[/]", total=1)

    def stage_log(self, name: str, line: str) -> None:
        with self.lock:
            if self.verbose:
                self.progress.console.print(f"  {line}", markup=False, highlight=False)
            elif name in self.tasks:
                short = line.split("] ", 1)[-1][:60]
                self.progress.update(
                    self.tasks[name], description=f"stage [bold]{name}[/] {short}", refresh=False
                )

    def stage_end(self, name: str, cached: bool, seconds: float) -> None:
        with self.lock:
            state = "[green]cached[/]" if cached else "[green]built[/]"
            self.progress.update(
                self.tasks[name], completed=1, description=f"stage [bold]{name}[/] {state}"
            )

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def reporter(json_mode: bool, verbose: bool) -> PlainReporter:
    if json_mode and not verbose:
        return PlainReporter(quiet=True)
    if sys.stderr.isatty():
        return RichReporter(verbose)
    return PlainReporter(verbose)
