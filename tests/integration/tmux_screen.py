"""A real terminal for display tests: a command run in a detached tmux session, its screen read
with ``capture-pane`` (what a person looking at the terminal would see)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import require

REPO = Path(__file__).resolve().parents[2]


class Screen:
    """``wasmbuild ARGS`` in a WIDTHxHEIGHT tmux window of its own server (socket in ``tmp``)."""

    def __init__(self, tmp: Path, args: list[str], env: Mapping[str, str], width: int = 120,
                 height: int = 40):
        self.tmux = require("tmux")
        self.socket = str(tmp / "tmux.sock")
        self.rc_file = tmp / "rc"
        self.rc_file.unlink(missing_ok=True)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        cmd = (f"cd {shlex.quote(str(REPO))} && env {exports} {shlex.quote(sys.executable)} -m "
               f"wasmbuild {' '.join(shlex.quote(a) for a in args)}; echo $? > "
               f"{shlex.quote(str(self.rc_file))}; sleep 600")
        # -f /dev/null: no user tmux.conf; remain-on-exit is not needed as the shell sleeps.
        # The server's start sometimes fails on a loaded machine ("server exited unexpectedly",
        # seen in CI between other engines' tests, never reproduced alone): start it again, a few
        # times, before the test fails with what tmux said.
        said = ""
        for attempt in range(4):
            started = subprocess.run([self.tmux, "-S", self.socket, "-f", "/dev/null", "new-session", "-d",
                                      "-x", str(width), "-y", str(height), cmd], capture_output=True, text=True)
            if started.returncode == 0:
                break
            said = started.stderr.strip()
            subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True, check=False)
            Path(self.socket).unlink(missing_ok=True)
            time.sleep(0.5 * (attempt + 1))
        else:
            raise AssertionError(f"tmux would not start a session: {said}")

    def text(self) -> str:
        return subprocess.run([self.tmux, "-S", self.socket, "capture-pane", "-p"],
                              check=True, capture_output=True, text=True).stdout

    def wait_for(self, ok: Callable[[str], bool], timeout: float = 60) -> str:
        """The first screen ``ok`` accepts (polled), else fail showing the last one."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if ok(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed what was expected:\n{screen}")
            time.sleep(0.1)

    def exit_code(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while not self.rc_file.exists() or not self.rc_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not finish:\n{self.text()}")
            time.sleep(0.1)
        return int(self.rc_file.read_text())

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], check=False,
                       capture_output=True)
