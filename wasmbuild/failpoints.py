"""Failpoints for crash tests: stop a build at a named point so a test can ``kill -9`` it there.

``WASMBUILD_TEST_PAUSE_AT=layer,index.json`` names the points. At one of them the process appends
``POINT PID`` to ``$WASMBUILD_TEST_PAUSE_FILE`` (if set) and sleeps
``$WASMBUILD_TEST_PAUSE_SECONDS`` (default 60) for the test to kill it. The variables are read once,
at the first call; unset (always, outside tests) a failpoint costs one set lookup. Points:

* ``stage-store``: a stage's cache entry is complete in its temp dir, not yet renamed into place;
* ``layer``: the layer blob is half written (after its first file) to a temp file;
* ``image``: layer, config and manifest blobs are in the store, no tag points at them yet;
* ``write:NAME``: an atomic write of a file called NAME (e.g. ``index.json``) is complete in its
  temp file, not yet renamed over the old one.

``WASMBUILD_TEST_FAIL_AT=POINT`` makes :func:`fail` raise the ``PermissionError`` an unreadable
``$WASMBUILD_TEST_FAIL_PATH`` would (tests of the last-resort error handler: as root, no file is
unreadable). Points: ``prepare`` (loading a Wasmfile).
"""

from __future__ import annotations

import os
import time
from functools import cache


@cache
def _armed() -> frozenset[str]:
    return frozenset(p for p in os.environ.get("WASMBUILD_TEST_PAUSE_AT", "").split(",") if p)


def pause(point: str) -> None:
    """Stop here if the crash test asked for ``point``; otherwise return at once."""
    if point not in _armed():
        return
    marker = os.environ.get("WASMBUILD_TEST_PAUSE_FILE")
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{point} {os.getpid()}\n")
    time.sleep(float(os.environ.get("WASMBUILD_TEST_PAUSE_SECONDS", "60")))


def fail(point: str) -> None:
    """Raise an unreadable-file error here if a test asked for ``point``; otherwise return."""
    if os.environ.get("WASMBUILD_TEST_FAIL_AT") == point:
        path = os.environ.get("WASMBUILD_TEST_FAIL_PATH", point)
        raise PermissionError(13, "Permission denied", path)
