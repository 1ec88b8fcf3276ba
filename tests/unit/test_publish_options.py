"""Pure pieces of the publish package: options, error causes, output parsing."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

from wasmbuild.errors import WasmbuildError
from wasmbuild.reference import split_path_name as _split
from wasmbuild.registry.transport import RegistryOptions
from wasmbuild.registry.transport import cause as _cause


def test_budget_default_env_and_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMBUILD_REGISTRY_TIMEOUT", raising=False)
    assert RegistryOptions().budget() == 15.0
    monkeypatch.setenv("WASMBUILD_REGISTRY_TIMEOUT", "4.5")
    assert RegistryOptions().budget() == 4.5
    assert RegistryOptions(timeout=2).budget() == 2
    monkeypatch.setenv("WASMBUILD_REGISTRY_TIMEOUT", "soon")
    with pytest.raises(WasmbuildError, match="WASMBUILD_REGISTRY_TIMEOUT"):
        RegistryOptions().budget()
    with pytest.raises(WasmbuildError, match="positive"):
        RegistryOptions(timeout=0).budget()


def test_verify_prefers_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert RegistryOptions(ca_file=str(ca), tls_verify=False).verify() == str(ca)
    assert RegistryOptions(tls_verify=False).verify() is False
    with pytest.raises(WasmbuildError, match="does not exist"):
        RegistryOptions(ca_file="/nonexistent/ca.pem").verify()


def test_cause_digs_out_the_os_error() -> None:
    inner = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    outer = RuntimeError("Max retries exceeded with url: /v2/ (Caused by ...)")
    outer.__cause__ = inner
    assert _cause(outer) == "connection refused"
    assert _cause(ValueError("one\ntwo")) == "one"


def test_output_split_like_skopeo() -> None:
    assert _split("out.tar") == ("out.tar", None)
    assert _split("out.tar:v1") == ("out.tar", "v1")
    assert _split("out.tar:") == ("out.tar", None)


def test_registry_module_import_is_lazy() -> None:
    import subprocess

    code = (
        "import sys, wasmbuild.publish, wasmbuild.registry.ops, wasmbuild.registry.auth, "
        "wasmbuild.registry.transport, wasmbuild.publish.archive, wasmbuild.inspect, "
        "wasmbuild.images, wasmbuild.cli.commands; "
        "print(sorted(m for m in ('oras', 'requests', 'urllib3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
