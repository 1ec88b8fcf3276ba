"""`npm:NAME@VERSION` inputs: their form, file name and purl, and npm missing or failing."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from wasmbuild.errors import BuildError, ConfigError, ToolchainError
from wasmbuild.execute.fetch import npm_pack
from wasmbuild.load.packages import download_name, download_purl, npm_package
from wasmbuild.pipeline import prepare


def test_the_npm_form_names_a_package_and_an_exact_version() -> None:
    assert npm_package("npm:@scope/pkg@1.2.3") == ("@scope/pkg", "1.2.3")
    assert npm_package("npm:left-pad@1.3.0") == ("left-pad", "1.3.0")
    assert download_name("npm:@scope/pkg@1.2.3-rc.1") == "scope-pkg-1.2.3-rc.1.tgz"
    assert download_name("https://example.test/a/zlib-1.2.13.tar.gz") == "zlib-1.2.13.tar.gz"
    assert download_purl("npm:@scope/pkg@1.2.3") == "pkg:npm/%40scope/pkg@1.2.3"
    assert download_purl("https://example.test/x.tgz") is None
    for loose in ("npm:@scope/pkg", "npm:pkg@^1.2.0", "npm:pkg@latest"):
        assert npm_package(loose) is None, loose


def test_legacy_uppercase_npm_names_are_accepted_and_path_unsafe_ones_refused() -> None:
    # validate-npm-package-name's "old" rules: uppercase for packages published before the rule
    assert npm_package("npm:JSONStream@1.3.5") == ("JSONStream", "1.3.5")
    assert npm_package("npm:Base64@1.1.0") == ("Base64", "1.1.0")
    assert download_name("npm:JSONStream@1.3.5") == "JSONStream-1.3.5.tgz"  # as `npm pack` names it
    for unsafe in ("npm:..@1.0.0", "npm:.hidden@1.0.0", "npm:_private@1.0.0", "npm:-flag@1.0.0",
                   "npm:a/b@1.0.0", "npm:@Scope/pkg@1.0.0", "npm:@scope/a/b@1.0.0", "npm:a b@1.0.0",
                   "npm:@scope/../x@1.0.0"):
        assert npm_package(unsafe) is None, unsafe


def test_a_loose_npm_version_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "Wasmfile").write_text(textwrap.dedent("""\
        wasmfile: 1
        stages:
          a:
            inputs:
              - {url: "npm:pkg@^1.2.0", sha256: %s}
            steps: ["true"]
            outputs: []
        """ % ("ab" * 32)))
    with pytest.raises(ConfigError, match=r"Wasmfile:5: .*npm:NAME@VERSION. with an exact version"):
        prepare(tmp_path / "Wasmfile")


def fake_npm(tmp_path: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text("#!/bin/sh\n" + script)
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")


def test_npm_pack_result_is_checked_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `npm pack --silent --pack-destination DIR SPEC`: write the tarball into DIR
    fake_npm(tmp_path, 'printf tarball > "$4/pkg-1.0.0.tgz"\n', monkeypatch)
    import hashlib

    sha = hashlib.sha256(b"tarball").hexdigest()
    kept = npm_pack("pkg", "1.0.0", sha)
    assert kept.read_bytes() == b"tarball" and kept.name == sha
    with pytest.raises(BuildError, match=rf"npm package pkg@1.0.0 has sha256 {sha}, the Wasmfile pins 0{{64}}"):
        npm_pack("pkg", "1.0.0", "0" * 64)


def test_npm_failing_or_missing_says_how_to_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_npm(tmp_path, 'echo "npm error 404 Not Found - pkg@9.9.9" >&2; exit 1\n', monkeypatch)
    with pytest.raises(BuildError, match=r"npm pack pkg@9.9.9 failed: npm error 404") as info:
        npm_pack("pkg", "9.9.9", "ab" * 32)
    assert "wasmbuild fetch --add" in str(info.value)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolchainError, match=r"npm:pkg@1.0.0 needs the npm client"):
        npm_pack("pkg", "1.0.0", "ab" * 32)
