"""Stage cache keys: a pure function of what can change a stage's outputs.

The key hashes the stage's steps, declared env, network and user, its declared outputs, the
content digest of each input under its destination (outputs of other stages enter this way too),
and the identity of what runs it (host toolchain path and version, or builder image id). Never
mtimes, host paths or the wall clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from ..render.project import StageSpec

#: Bump when the meaning of a key changes (old entries then simply miss).
CACHE_VERSION = 1


def stage_key(spec: StageSpec, inputs: Sequence[tuple[str, str]], runner: str) -> str:
    """The key of ``spec`` run by ``runner`` with ``inputs`` as (destination, content digest)."""
    material = {
        "v": CACHE_VERSION,
        "steps": list(spec.steps),
        "env": spec.env,
        "network": spec.network,
        "user": spec.user,
        "outputs": list(spec.outputs),
        "inputs": [list(i) for i in inputs],
        "runner": runner,
    }
    if spec.component:  # only then: the keys of every other stage stay as they were
        material["component"] = spec.component
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
