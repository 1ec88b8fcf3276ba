"""Pause points for crash tests: ``WASMBUILD_TEST_PAUSE_AT=layer,index.json`` makes a build stop
at those points so a test can ``kill -9`` it exactly there.

At a named point the process writes ``POINT PID`` to ``$WASMBUILD_TEST_PAUSE_FILE`` (if set) and
sleeps ``$WASMBUILD_TEST_PAUSE_SECONDS`` (default 60). With the variable unset (always, outside
tests) :func:`pause` is one dictionary lookup. Points:

* ``stage-store``: a stage's cache entry is written to its temp dir, not yet renamed into place;
* ``layer``: the layer blob is half written (after its first file) to a temp file;
* ``image``: layer, config and manifest blobs are in the store, no tag points at them yet;
* ``write:NAME``: an atomic write of a file called NAME (e.g. ``index.json``) is complete in its
  temp file, not yet renamed over the old one.
"""

from __future__ import annotations

import os
import time


def pause(point: str) -> None:
    wanted = os.environ.get("WASMBUILD_TEST_PAUSE_AT")
    if not wanted or point not in wanted.split(","):
        return
    marker = os.environ.get("WASMBUILD_TEST_PAUSE_FILE")
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{point} {os.getpid()}\n")
    time.sleep(float(os.environ.get("WASMBUILD_TEST_PAUSE_SECONDS", "60")))
