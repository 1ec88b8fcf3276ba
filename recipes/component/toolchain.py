"""The ``component`` toolchain: the component tools (wasm-tools, componentize-py) run through
wasmbuild's own Python, ``$WASMBUILD_PYTHON -m wasmbuild.wasm.component`` /
``wasmbuild.wasm.python``. Used by the ``component`` and ``python-component`` recipes."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import wasmbuild
from wasmbuild.execute.probing import Toolchain, ToolRecord, version_in
from wasmbuild.wasm import component, tools


def probe() -> Toolchain:
    # WASMBUILD_PACKAGE: this package's own directory, which the steps import. The sandbox shows
    # the directories toolchain variables name: for an editable install (or any checkout) under
    # a hidden root such as /tmp or a home, the venv alone would not bring the code along.
    env = {"WASMBUILD_PYTHON": sys.executable, "WASM_TOOLS": tools.wasm_tools_path(),
           "WASMBUILD_PACKAGE": str(Path(wasmbuild.__file__).resolve().parent)}
    return Toolchain("component", env, (), component.tools_identity())


def witnesses(env: dict[str, str]) -> list[str]:
    """Where a pip install or upgrade of the component tools lands."""
    return [sysconfig.get_paths()["purelib"]]


def facts(tc: Toolchain) -> list[ToolRecord]:
    wasm_tools, *rest = tc.identity.split(";")
    found = [ToolRecord("toolchain", "wasm-tools", version_in(wasm_tools),
                        tc.env.get("WASM_TOOLS"))]
    for field in rest:
        if field.startswith("componentize-py="):
            found.append(ToolRecord("toolchain", "componentize-py", field.partition("=")[2]))
    return found
