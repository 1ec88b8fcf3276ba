"""Shared fixtures. Every test gets its own store and cache (WASMBUILD_STORE/CACHE)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import require

__all__ = ["require"]

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "tests.integration.registry_fixtures",
    "tests.integration.docker_fixtures",
    "tests.integration.engine_fixtures",
    "tests.integration.consumer_fixtures",
    "tests.integration.signing_fixtures",
]


#: Modules whose own helpers start the CLI in a process (the rest use this file's ``wb``).
_CLI_MODULES = {"test_run_fastpath.py", "test_check_fastpath.py"}


def _process_wb(item: pytest.Item) -> bool:
    """Whether ``item`` uses this file's ``wb`` (a process), not a module's own in-process one."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("wb", ()) if info is not None else ()
    return bool(defs) and defs[-1].func.__module__ == __name__


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start the CLI as a process get the ``cli`` mark: ``pytest tests/unit -m 'not
    cli'`` is the in-process tier (seconds), the rest runs the same code through ``python -m``."""
    for item in items:
        if _process_wb(item) or item.path.name in _CLI_MODULES:
            item.add_marker(pytest.mark.cli)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    store, cache = tmp_path / "store", tmp_path / "cache"
    monkeypatch.setenv("WASMBUILD_STORE", str(store))
    monkeypatch.setenv("WASMBUILD_CACHE", str(cache))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return {"store": store, "cache": cache}


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def wb() -> Runner:
    """Run the CLI in a subprocess, as a user would (``wb("build", ..., cwd=..., env=...)``)."""

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = False,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "wasmbuild", *args],
            cwd=cwd or REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"wasmbuild {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def copy_example(dest: Path) -> Path:
    """A copy of Wasmfile.example and its sources in ``dest``; returns the Wasmfile path."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "examples" / "hello-rust", dest / "examples" / "hello-rust")
    shutil.copytree(REPO / "examples" / "hello-c", dest / "examples" / "hello-c")
    shutil.copy(REPO / "Wasmfile.example", dest / "Wasmfile")
    return dest / "Wasmfile"


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on 127.0.0.1: reachable with the network on, not with it off."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"pong\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
