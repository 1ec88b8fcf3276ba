"""``wasmbuild init`` for a Go module (``go.mod``): recipe ``go``, offline (vendored). The recipe
declares no toolchain of its own: ``go`` is one of the stage's ``tools:`` (docs/languages.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def init(folder: Path) -> Any:
    from wasmbuild.scaffold import Detected, image_name

    name = image_name(folder)
    text = (folder / "go.mod").read_text(errors="replace")
    notes = []
    if re.search(r"^require\b", text, re.MULTILINE) and not (folder / "vendor").is_dir():
        notes.append("the module requires other modules: run `go mod vendor` (the build is offline)")
    return Detected("go", name, "go", {"module": ".", "output": f"{name}.wasm"}, f"{name}.wasm", ["go.mod"], notes,
                    what=("the Go module: go build with GOOS=wasip1 GOARCH=wasm, offline\n"
                          "# (vendored dependencies; pip install 'wasmbuild[go]' brings Go)"),
                    ignore=["**/*.wasm"])
