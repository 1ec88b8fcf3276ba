"""What every test tier shares: CI never skips an integration test for a missing component."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what: str) -> NoReturn:
    """Skip locally; fail in CI, where every integration component must be present."""
    if in_ci():
        pytest.fail(f"CI: {what}", pytrace=False)
    pytest.skip(what)


def require(tool: str) -> str:
    """The path of ``tool`` (scripts/bootstrap --test installs them all)."""
    return shutil.which(tool) or missing(f"{tool} is not installed (run scripts/bootstrap --test)")


def validate_spdx(doc: dict[str, Any]) -> list[str]:
    """Problems ``spdx-tools`` finds in ``doc`` (empty: valid SPDX 2.3)."""
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    try:
        document = JsonLikeDictParser().parse(doc)  # type: ignore[no-untyped-call]
    except SPDXParsingError as exc:
        return [str(m) for m in exc.get_messages()]  # type: ignore[no-untyped-call]
    return [m.validation_message for m in validate_full_spdx_document(document)]


def one_line(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The command failed with ``code`` and said so in exactly one ``error:`` line."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


#: A one-stage Wasmfile (a shell step copies the context's app.wasm): what the Action tests build.
STAGED = """\
wasmfile: 1
stages:
  app:
    inputs: [app.wasm]
    steps: ["cp $SRC/app.wasm $OUT/app.wasm"]
    outputs: [app.wasm]
image:
  files: [{from: app, path: app.wasm, dest: /app.wasm}]
  entrypoint: ["/app.wasm"]
"""


def wat(text: str) -> bytes:
    """The binary of the WebAssembly text ``text``, by ``wasm-tools parse`` (the venv's)."""
    from wasmbuild.wasm.tools import wasm_tools_path

    return subprocess.run([wasm_tools_path(), "parse", "-"], input=text.encode(), capture_output=True,
                          check=True).stdout
