"""Credential lookup and storage (no registry needed: login's check is stubbed)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from wasmbuild.errors import WasmbuildError
from wasmbuild.registry import auth, ops
from wasmbuild.registry.auth import Credentials

HELPER = """#!{python}
import json, os, sys
db = os.environ["FAKE_CRED_DB"]
data = json.load(open(db)) if os.path.exists(db) else {{}}
action = sys.argv[1]
payload = sys.stdin.read()
if action == "get":
    if payload not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = data[payload]
    print(json.dumps({{"ServerURL": payload, "Username": user, "Secret": secret}}))
elif action == "store":
    req = json.loads(payload)
    data[req["ServerURL"]] = [req["Username"], req["Secret"]]
    json.dump(data, open(db, "w"))
elif action == "erase":
    data.pop(payload.strip(), None)
    json.dump(data, open(db, "w"))
"""


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "docker"
    cfg.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    monkeypatch.delenv("WASMBUILD_USERNAME", raising=False)
    monkeypatch.delenv("WASMBUILD_PASSWORD", raising=False)
    return cfg


@pytest.fixture
def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fake"
    helper.write_text(HELPER.format(python=sys.executable))
    helper.chmod(0o755)
    db = tmp_path / "helper-db.json"
    monkeypatch.setenv("FAKE_CRED_DB", str(db))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return db


def write_cfg(cfg_dir: Path, data: dict) -> None:
    (cfg_dir / "config.json").write_text(json.dumps(data))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_repr_hides_password() -> None:
    creds = Credentials("me", "hunter2")
    assert "hunter2" not in repr(creds) and "hunter2" not in str(creds) and "me" in repr(creds)


def test_auths_entry_and_spellings(docker_config: Path) -> None:
    write_cfg(
        docker_config, {"auths": {"https://reg.example:5000": {"auth": b64("u:p:with:colons")}}}
    )
    assert auth.get_credentials("reg.example:5000") == Credentials("u", "p:with:colons")
    assert auth.get_credentials("other.example") is None


def test_localhost_and_loopback_are_interchangeable(docker_config: Path) -> None:
    write_cfg(docker_config, {"auths": {"localhost:5000": {"auth": b64("u:p")}}})
    assert auth.get_credentials("127.0.0.1:5000") == Credentials("u", "p")


def test_environment_wins(docker_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cfg(docker_config, {"auths": {"r.example": {"auth": b64("u:p")}}})
    monkeypatch.setenv("WASMBUILD_USERNAME", "ci")
    monkeypatch.setenv("WASMBUILD_PASSWORD", "token")
    assert auth.get_credentials("r.example") == Credentials("ci", "token")


def test_malformed_auth_says_how_to_fix(docker_config: Path) -> None:
    write_cfg(docker_config, {"auths": {"r.example": {"auth": "!!notbase64"}}})
    with pytest.raises(WasmbuildError, match="malformed") as err:
        auth.get_credentials("r.example")
    assert "wasmbuild login r.example" in str(err.value)


def test_cred_helpers_and_creds_store(docker_config: Path, fake_helper: Path) -> None:
    fake_helper.write_text(json.dumps({"h.example": ["hu", "hs"], "s.example": ["su", "ss"]}))
    write_cfg(docker_config, {"credHelpers": {"h.example": "fake"}, "credsStore": "fake"})
    assert auth.get_credentials("h.example") == Credentials("hu", "hs")
    assert auth.get_credentials("s.example") == Credentials("su", "ss")
    assert auth.get_credentials("none.example") is None  # helper says "not found"


def test_missing_helper_is_one_clear_line(docker_config: Path) -> None:
    write_cfg(docker_config, {"credsStore": "does-not-exist"})
    with pytest.raises(WasmbuildError, match="is not on PATH") as err:
        auth.get_credentials("r.example")
    assert "docker-credential-does-not-exist" in str(err.value) and "\n" not in str(err.value)


def test_login_writes_config_0600_atomically(
    docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    write_cfg(docker_config, {"auths": {"keep.example": {"auth": b64("a:b")}}, "other": 1})
    where = ops.login("r.example:5000", "me", "pw-123", check=lambda reg, opts: checked.append(reg))
    cfg = docker_config / "config.json"
    assert Path(where) == cfg and checked == ["r.example:5000"]
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    data = json.loads(cfg.read_text())
    assert data["other"] == 1 and "keep.example" in data["auths"]
    assert data["auths"]["r.example:5000"] == {"auth": b64("me:pw-123")}
    assert not [p for p in docker_config.iterdir() if p.name.endswith(".tmp")]
    assert auth.logout("r.example:5000") is True
    assert "r.example:5000" not in json.loads(cfg.read_text())["auths"]
    assert auth.logout("r.example:5000") is False


def test_login_uses_creds_store_when_configured(
    docker_config: Path, fake_helper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cfg(docker_config, {"credsStore": "fake"})
    where = ops.login("r.example", "me", "pw-456", check=lambda reg, opts: None)
    assert where == "docker-credential-fake"
    assert "pw-456" not in (docker_config / "config.json").read_text()
    assert json.loads(fake_helper.read_text())["r.example"] == ["me", "pw-456"]
    assert auth.get_credentials("r.example") == Credentials("me", "pw-456")
    auth.logout("r.example")
    assert "r.example" not in json.loads(fake_helper.read_text())


def test_login_needs_both(docker_config: Path) -> None:
    with pytest.raises(WasmbuildError, match="needs a username and a password"):
        ops.login("r.example", "me", "")
