"""A trust policy in containers-policy.json(5)'s shape, and registries.d(5)'s lookaside.

The same file podman and skopeo read works here (for the ``docker`` transport): ``default`` and
``transports.docker`` scopes (``host``, ``host/ns``, ``host/ns/repo``, ``host/ns/repo:tag``; the
most specific wins, every requirement of its list must hold) with the requirement types
``insecureAcceptAnything``, ``reject``, ``signedBy`` (``keyType: GPGKeys``, ``keyPath`` /
``keyPaths``: simple signing, found through the lookaside of registries.d) and ``sigstoreSigned``
(``keyPath``: cosign's format). ``keyData`` and other types are refused, not ignored.

The policy is ``--policy FILE`` or ``WASMBUILD_POLICY``; the registries.d directory is
``WASMBUILD_REGISTRIES_D``, else ``~/.config/containers/registries.d`` and
``/etc/containers/registries.d`` (as containers/image looks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...errors import ConfigError, TrustError
from ...reference import parse
from . import KeyOptions

POLICY_ENV = "WASMBUILD_POLICY"
REGISTRIES_D_ENV = "WASMBUILD_REGISTRIES_D"


def find_policy(path: Path | None) -> dict[str, Any] | None:
    """The policy of ``--policy`` or ``WASMBUILD_POLICY`` (None when neither is set)."""
    where = path or (Path(os.environ[POLICY_ENV]) if os.environ.get(POLICY_ENV) else None)
    if where is None:
        return None
    try:
        doc = json.loads(where.read_text())
    except OSError as exc:
        raise ConfigError(f"policy {where}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}:{getattr(exc, 'lineno', 1)}: the policy is not JSON",
                          hint="see containers-policy.json(5); docs/signing.md has an example") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("default", []), list):
        raise ConfigError(f"{where}: the policy is not a containers-policy.json object with a 'default' list")
    doc["__file__"] = str(where)
    return doc


def _scopes(ref: str) -> list[str]:
    """``ref``'s scopes, most specific first (containers-policy.json(5), "docker")."""
    r = parse(ref.removeprefix("docker://"), default_tag=None)
    out = [f"{r.name}:{r.tag}"] if r.tag else []
    parts = r.name.split("/")
    out += ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
    host = parts[0]
    labels = host.split(".")
    out += ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
    return out


def requirements(policy: dict[str, Any], ref: str) -> list[KeyOptions]:
    """The keys ``policy`` requires for ``ref`` (all must verify); TrustError for ``reject``."""
    where = policy.get("__file__", "policy")
    scopes = (policy.get("transports") or {}).get("docker") or {}
    chosen, scope = policy.get("default") or [], "default"
    for s in _scopes(ref):
        if s in scopes:
            chosen, scope = scopes[s], s
            break
    out: list[KeyOptions] = []
    for req in chosen:
        kind = req.get("type") if isinstance(req, dict) else None
        if kind == "insecureAcceptAnything":
            continue
        if kind == "reject":
            raise TrustError(f"{ref}: rejected by {where} (scope {scope!r} says reject)",
                             hint="add a scope for this repository with the key that signs it")
        if kind == "signedBy":
            if req.get("keyType", "GPGKeys") != "GPGKeys":
                raise ConfigError(f"{where}: scope {scope!r}: keyType {req.get('keyType')!r} is not supported",
                                  hint="use GPGKeys")
            out.append(KeyOptions(gpg_pubkey=",".join(_paths(req, where, scope)), lookaside=lookaside(ref)))
        elif kind == "sigstoreSigned":
            out.append(KeyOptions(key=",".join(_paths(req, where, scope))))
        else:
            raise ConfigError(f"{where}: scope {scope!r}: requirement type {kind!r} is not supported here",
                              hint="use insecureAcceptAnything, reject, signedBy or sigstoreSigned (keyPath)")
    return out


def _paths(req: dict[str, Any], where: str, scope: str) -> list[str]:
    paths = [req["keyPath"]] if isinstance(req.get("keyPath"), str) else req.get("keyPaths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{where}: scope {scope!r}: {req.get('type')} needs keyPath (keyData is not supported)",
                          hint="write the key to a file and name it with keyPath")
    return paths


def _registries_dirs() -> list[Path]:
    if os.environ.get(REGISTRIES_D_ENV):
        return [Path(os.environ[REGISTRIES_D_ENV])]
    return [Path.home() / ".config/containers/registries.d", Path("/etc/containers/registries.d")]


def lookaside(ref: str) -> str | None:
    """The lookaside URL registries.d gives ``ref`` (most specific scope; ``default-docker``)."""
    import yaml

    scopes: dict[str, str] = {}
    default: str | None = None
    for d in _registries_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")):
            try:
                doc = yaml.safe_load(f.read_text()) or {}
            except (OSError, yaml.YAMLError):
                raise ConfigError(f"{f}: not a registries.d YAML file") from None
            dd = doc.get("default-docker") or {}
            default = default or dd.get("lookaside") or dd.get("sigstore")
            for scope, conf in (doc.get("docker") or {}).items():
                url = (conf or {}).get("lookaside") or (conf or {}).get("sigstore")
                if url:
                    scopes.setdefault(scope, url)
        if scopes or default:
            break  # the first directory that says anything (as WASMBUILD_REGISTRIES_D replaces them)
    for s in _scopes(ref):
        if s in scopes:
            return scopes[s]
    return default
