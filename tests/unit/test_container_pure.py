"""The container executor's pure parts: builder hashing, environment, reference checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasmbuild.errors import ConfigError
from wasmbuild.execute.executors import Paths, StageJob, stage_env
from wasmbuild.execute.executors.engine import builder_definition_dir, builder_hash, ensure_builder


def _definition(tmp_path: Path) -> Path:
    d = tmp_path / "b"
    d.mkdir()
    (d / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY x.sh /x.sh\n")
    (d / "x.sh").write_text("echo hi\n")
    return d


def test_builder_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    d = _definition(tmp_path)
    first = builder_hash(d, "debian:bookworm-slim", "sha256:aa")
    assert first == builder_hash(d, "debian:bookworm-slim", "sha256:aa")
    assert first != builder_hash(d, "debian:bookworm-slim", "sha256:bb")
    assert first != builder_hash(d, "debian:trixie-slim", "sha256:aa")
    os.chmod(d / "x.sh", 0o755)
    executable = builder_hash(d, "debian:bookworm-slim", "sha256:aa")
    assert executable != first
    (d / "x.sh").write_text("echo bye\n")
    assert builder_hash(d, "debian:bookworm-slim", "sha256:aa") != executable


def test_shipped_builders_resolve() -> None:
    for name in ("python-wasi", "wasi-toolchain"):
        assert (builder_definition_dir(name) / "Dockerfile").is_file()
    with pytest.raises(ConfigError, match="unknown builder 'nope'"):
        builder_definition_dir("nope")


def test_unpinned_reference_is_refused_before_any_engine_call() -> None:
    with pytest.raises(ConfigError, match="not pinned by digest"):
        ensure_builder("registry.example/builders/python-wasi:latest")


def test_stage_environment_is_declared_then_toolchain_then_ours() -> None:
    job = StageJob(name="s", steps=(), env={"WITH_ZLIB": "1", "CC": "mine"}, src=Path("/x"),
                   out=Path("/y"), work=Path("/z"), epoch=1676246400)
    env = stage_env(job, Paths("/src", "/out", "/work", "/opt/bin:/usr/bin"), {"CC": "clang"})
    assert env == {
        "SRC": "/src", "OUT": "/out", "WORK": "/work", "HOME": "/work",
        "PATH": "/opt/bin:/usr/bin", "SOURCE_DATE_EPOCH": "1676246400", "LANG": "C.UTF-8",
        "WITH_ZLIB": "1", "CC": "clang",
    }
