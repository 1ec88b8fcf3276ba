"""docs/real-projects.md shows each real project's Wasmfile as it is in examples/real-*."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "real-projects.md").read_text()


def blocks() -> list[object]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def test_each_wasmfile_shown_is_the_examples() -> None:
    wasmfiles = sorted((REPO / "examples").glob("real-*/Wasmfile"))
    assert [w.parent.name for w in wasmfiles] == ["real-bzip2", "real-cmark", "real-hello"]
    shown = [b for b in blocks() if isinstance(b, dict) and b.get("wasmfile") == 1
             and all(s.get("recipe") != "rust" for s in b.get("stages", {}).values())]  # the Rust one: a fixture
    assert len(shown) == len(wasmfiles)
    for wasmfile in wasmfiles:
        assert yaml.safe_load(wasmfile.read_text()) in shown, wasmfile
        assert "scripts/fetch-real-source" in (wasmfile.parent / "README.md").read_text()


def test_the_second_stage_shown_is_the_examples() -> None:
    mdstat = yaml.safe_load((REPO / "examples" / "real-cmark" / "Wasmfile.mdstat").read_text())
    assert {"mdstat": mdstat["stages"]["mdstat"]} in blocks()
    # the CMake stage is the same in both Wasmfiles: built once, then taken from the stage cache
    cmake = yaml.safe_load((REPO / "examples" / "real-cmark" / "Wasmfile").read_text())
    assert mdstat["stages"]["cmark"] == cmake["stages"]["cmark"]


def test_headings_name_project_and_build_system() -> None:
    headings = re.findall(r"^## (.+)$", DOC, re.M)
    for heading in ("cmark (CMake)", "bzip2 (Makefile)", "GNU hello (autotools)"):
        assert heading in headings
