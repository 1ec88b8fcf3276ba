"""`tools:` in the model and in runner identities (issue 19 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmbuild.attest.facts import tools_of
from wasmbuild.errors import ConfigError
from wasmbuild.execute.tools import HostTool, identity_of
from wasmbuild.pipeline import prepare


def test_tools_are_for_host_stages_and_plain_names(tmp_path: Path) -> None:
    (tmp_path / "Wasmfile").write_text(
        "wasmfile: 1\nstages:\n  a:\n    builder: python-wasi\n    tools: [go]\n    steps: ['true']\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:3: stages.a: `tools` names host commands"):
        prepare(tmp_path / "Wasmfile")
    (tmp_path / "Wasmfile").write_text("wasmfile: 1\nstages:\n  a:\n    tools: ['go;rm']\n    steps: ['true']\n")
    with pytest.raises(ConfigError, match=r"Wasmfile:4: .*tools"):
        prepare(tmp_path / "Wasmfile")


def test_a_tool_joins_the_runner_identity_and_is_an_sbom_tool() -> None:
    tool = HostTool("go", "/opt/venv/bin/go", "/opt/venv/lib/go/bin/go", "ab" * 32)
    assert tool.roots == ("/opt/venv", "/opt/venv/lib/go")
    identity = "host" + identity_of((tool,))
    assert identity == f"host;tool=go=/opt/venv/lib/go/bin/go={'ab' * 32}"
    versioned = HostTool("go", "/opt/a=b/go", "/opt/a=b/go", "cd" * 32, "go version go1.27.3 linux/amd64")
    assert identity_of((versioned,)).endswith("=go version go1.27.3 linux/amd64")
    # the SBOM reads the typed record, never the identity string back
    [found] = tools_of((tool.record,), identity)
    assert (found.kind, found.name, found.sha256, found.uri) == ("tool", "go", "ab" * 32,
                                                                 "file:///opt/venv/lib/go/bin/go")
    [named] = tools_of((versioned.record,), identity)
    assert named.version == "go version go1.27.3 linux/amd64" and named.uri == "file:///opt/a=b/go"
