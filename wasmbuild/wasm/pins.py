"""The vendored WASI assets (preview 1 adapters, WASI 0.2 WIT) and their pinned sha256.

``assets/pins.json`` is written only by ``scripts/update-wasi-assets``; every use of an asset goes
through :func:`asset`, which refuses a file whose sha256 differs from its pin.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from ..errors import ToolchainError
from ..fsutil import file_sha256

ASSETS = Path(__file__).resolve().parent / "assets"
AdapterKind = Literal["command", "reactor"]
UPDATE_HINT = "reinstall wasmbuild, or re-vendor with scripts/update-wasi-assets"


@dataclass(frozen=True)
class Pins:
    package: str  # the npm package the files come from
    version: str
    wasi_version: str  # the WIT snapshot, e.g. "0.2.12"
    files: dict[str, str]  # path under assets/ -> sha256
    digest: str  # sha256 of pins.json: names this set of assets in cache keys


@cache
def pins() -> Pins:
    raw = (ASSETS / "pins.json").read_bytes()
    data = json.loads(raw)
    files = {name: meta["sha256"] for name, meta in data["files"].items()}
    return Pins(data["package"], data["version"], data["wasi_version"], files,
                hashlib.sha256(raw).hexdigest())


def asset(name: str) -> Path:
    """The path of vendored file ``name`` (relative to assets/), after checking its sha256."""
    expected = pins().files.get(name)
    path = ASSETS / name
    if expected is None or not path.is_file():
        raise ToolchainError(f"the vendored WASI asset {name} is missing", hint=UPDATE_HINT)
    actual = file_sha256(path)
    if actual != expected:
        raise ToolchainError(
            f"the vendored WASI asset {path} has sha256 {actual}, pinned {expected}", hint=UPDATE_HINT
        )
    return path


def adapter_name(kind: AdapterKind) -> str:
    return f"adapters/wasi_snapshot_preview1.{kind}.wasm"


def wit_packages() -> dict[str, Path]:
    """The vendored WIT packages by short name (``cli``, ``io``...) -> their checked package.wit."""
    prefix = f"wit/{pins().wasi_version}/wasi-"
    found: dict[str, Path] = {}
    for name in sorted(pins().files):
        if name.startswith(prefix) and name.endswith("/package.wit"):
            found[name[len(prefix):].split("/", 1)[0]] = asset(name)
    return found
