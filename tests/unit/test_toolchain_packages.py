"""A toolchain pinned as a package (`toolchain: true` on a download: CRuby, componentize-js,
asc) is listed by `wasmbuild toolchains` with its pin and whether the download cache has it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

WASMFILE = """\
wasmfile: 1
stages:
  app:
    inputs:
      - {{url: "https://tools.example/compiler.tgz", sha256: {sha}, toolchain: true}}
      - {{url: "https://tools.example/other.tgz", sha256: {sha}}}
    steps: ['touch "$OUT/a.wasm"']
    outputs: [a.wasm]
image:
  files: [{{from: app, path: a.wasm, dest: /a.wasm}}]
  entrypoint: [a.wasm]
"""


def rows(path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    from wasmbuild.cli import run_cli

    assert run_cli(["toolchains", str(path), "--json"]) == 0
    found: list[dict[str, object]] = json.loads(capsys.readouterr().out)["toolchains"]
    return [r for r in found if str(r["name"]).startswith("package:")]


def test_a_pinned_toolchain_package_is_listed_with_its_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from wasmbuild.execute.fetch import add

    monkeypatch.setenv("WASMBUILD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WASMBUILD_SANDBOX", "off")
    tarball = tmp_path / "compiler.tgz"
    tarball.write_bytes(b"a compiler")
    sha = hashlib.sha256(b"a compiler").hexdigest()
    (tmp_path / "Wasmfile").write_text(WASMFILE.format(sha=sha))
    [row] = rows(tmp_path / "Wasmfile", capsys)
    assert row["name"] == "package:https://tools.example/compiler.tgz" and row["stages"] == ["app"]
    assert row["found"] == f"pinned by {sha}, fetched by the build"
    add(tarball)
    [row] = rows(tmp_path / "Wasmfile", capsys)
    assert row["found"] == f"pinned by {sha}, in the download cache"


def test_toolchain_is_for_downloads_only() -> None:
    from wasmbuild.load.model import Input

    with pytest.raises(ValueError, match=r"`purl` and `toolchain` are only valid with `url`"):
        Input.model_validate({"src": "x", "toolchain": True})
