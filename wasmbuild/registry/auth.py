"""Registry credentials: Docker's ``config.json``, credential helpers, and CI environment variables.

Lookup order for a registry host: ``WASMBUILD_USERNAME``/``WASMBUILD_PASSWORD`` (CI), then
``credHelpers[host]``, then ``auths[host].auth``, then ``credsStore`` -- the order the docker CLI
uses. ``DOCKER_CONFIG`` names the directory holding ``config.json`` (default ``~/.docker``).

Secrets never reach output, logs or exception messages: :class:`Credentials` hides the password
in its ``repr``, and errors name the registry and helper, never what a helper printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmbuild.errors import ConfigError, RegistryError
from wasmbuild.fsutil import atomic_write_bytes

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry. The secret never appears in ``repr``."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"

    __str__ = __repr__


def config_dir() -> Path:
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def config_path() -> Path:
    return config_dir() / "config.json"


def _read_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(
            f"{path} is not valid JSON", hint="fix or remove it, then run `wasmbuild login` again"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object", hint="fix or remove it")
    return data


def _write_config(cfg: dict[str, Any]) -> None:
    path = config_path()
    data = json.dumps(cfg, indent=2, sort_keys=True).encode() + b"\n"
    atomic_write_bytes(path, data, mode=0o600)


def _keys(registry: str) -> list[str]:
    """Spellings of ``registry`` that may appear as keys in config.json."""
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry in DOCKER_HUB_KEYS or registry == "registry-1.docker.io":
        keys = [*DOCKER_HUB_KEYS, *keys]
    if registry.startswith("localhost"):
        keys.append(registry.replace("localhost", "127.0.0.1", 1))
    elif registry.startswith("127.0.0.1"):
        keys.append(registry.replace("127.0.0.1", "localhost", 1))
    return keys


def _server_key(registry: str) -> str:
    return DOCKER_HUB_KEYS[0] if registry in DOCKER_HUB_KEYS else registry


def _helper(name: str, action: str, registry: str, payload: str) -> str:
    binary = f"docker-credential-{name}"
    if not shutil.which(binary):
        raise RegistryError(
            f"credential helper {binary} (configured in {config_path()}) is not on PATH",
            where=registry,
            hint="install it or remove credsStore/credHelpers from config.json",
        )
    # The helper's output may contain the secret: never echo it into an error.
    proc = subprocess.run(
        [binary, action], input=payload.encode(), capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        if action in ("get", "erase"):  # "not found" is a normal answer to both
            return ""
        raise RegistryError(
            f"credential helper {binary} failed to {action} credentials (exit {proc.returncode})",
            where=registry,
        )
    return proc.stdout.decode(errors="replace")


def _from_helper(name: str, registry: str) -> Credentials | None:
    out = _helper(name, "get", registry, registry)
    if not out.strip():
        return None
    try:
        data = json.loads(out)
        user, secret = str(data["Username"]), str(data["Secret"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise RegistryError(
            f"credential helper docker-credential-{name} returned malformed output",
            where=registry,
        ) from None
    return Credentials(user, secret) if secret else None


def _decode_auth(value: str, registry: str) -> Credentials:
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, user, password = "", "", ""
    if not sep:
        raise ConfigError(
            f"the stored credentials for {registry} in {config_path()} are malformed",
            hint=f"run `wasmbuild login {registry}` again",
        )
    return Credentials(user, password)


def get_credentials(registry: str) -> Credentials | None:
    """Credentials for ``registry`` (a host[:port]), or None to go anonymous."""
    user, password = os.environ.get("WASMBUILD_USERNAME"), os.environ.get("WASMBUILD_PASSWORD")
    if user and password:
        return Credentials(user, password)
    cfg = _read_config()
    helpers = cfg.get("credHelpers") or {}
    auths = cfg.get("auths") or {}
    for key in _keys(registry):
        if key in helpers:
            return _from_helper(str(helpers[key]), key)
    for key in _keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict) and entry.get("auth"):
            return _decode_auth(str(entry["auth"]), registry)
        if isinstance(entry, dict) and entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
    if cfg.get("credsStore"):
        return _from_helper(str(cfg["credsStore"]), _server_key(registry))
    return None


def store_credentials(registry: str, creds: Credentials) -> Path | str:
    """Save ``creds`` in the configured credential store, else in config.json (mode 0600)."""
    cfg = _read_config()
    helper = (cfg.get("credHelpers") or {}).get(registry) or cfg.get("credsStore")
    key = _server_key(registry)
    if helper:
        payload = json.dumps(
            {"ServerURL": key, "Username": creds.username, "Secret": creds.password}
        )
        _helper(str(helper), "store", registry, payload)
        auths = cfg.setdefault("auths", {})
        auths.setdefault(key, {})
        auths[key].pop("auth", None)
        _write_config(cfg)
        return f"docker-credential-{helper}"
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    cfg.setdefault("auths", {})[key] = {"auth": token}
    _write_config(cfg)
    return config_path()


def logout(registry: str) -> bool:
    """Forget stored credentials for ``registry``. Returns False if there were none."""
    cfg = _read_config()
    removed = False
    auths = cfg.get("auths") or {}
    for key in _keys(registry):
        if key in auths:
            del auths[key]
            removed = True
    helper = (cfg.get("credHelpers") or {}).get(registry) or cfg.get("credsStore")
    if helper:
        _helper(str(helper), "erase", registry, _server_key(registry))
        removed = True
    if removed:
        _write_config(cfg)
    return removed
