"""``wasmbuild run IMAGE [ARGS...]`` as one function, without the CLI framework.

Both ways in call :func:`run_image`: the Typer command (``cli/images.py``) and the fast path of
``__main__.py``, which parses ``run``'s few options itself (:func:`parse_run_argv`) so that a
start does not pay for importing typer, rich and pydantic (0.13-0.17 s on every command). Any
argv it is not sure about (help, an unknown option, a missing value) goes to the full CLI, so
the two can only differ in speed; tests/unit/test_run_fastpath.py runs both on the same argvs.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ImageNotFound

#: The same pattern as ``load.model.ENV_NAME_RE`` (importing that module imports pydantic; a
#: unit test checks that they are equal).
ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"


def parse_env(items: list[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` options as a dict (a bad one is a one-line error)."""
    extra: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.match(ENV_NAME_RE, key):
            raise ConfigError(f"--env {item!r} is not KEY=VALUE with a valid variable name",
                              hint="e.g. -e GREETING=hello")
        extra[key] = value
    return extra


def say(line: str) -> None:
    """One line on stderr (``run``'s and ``pull``'s choice of an index entry)."""
    print(f"wasmbuild: {line}", file=sys.stderr, flush=True)


@dataclass
class RunArgs:
    """``run``'s arguments and options, as the Typer command declares them."""

    image: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    plain_http: bool = False
    tls_verify: str = "true"
    ca_file: Path | None = None
    trust_precompiled: bool = False
    verify: str | None = None
    verify_gpg: str | None = None
    lookaside: str | None = None
    policy: Path | None = None


def run_image(a: RunArgs) -> int:
    """Run the image ``a.image`` names (pulling it from a registry if it is not local); returns
    the module's exit code. Precompiled code (docs/precompiled.md) is used from the local store,
    and from elsewhere (an ``oci:`` layout, an archive, a registry) only with
    ``trust_precompiled``: it is native code, outside the sandbox."""
    from .. import images
    from .run import run

    extra = parse_env(a.env)
    rest = list(a.args)
    if rest[:1] == ["--"]:  # `run IMAGE -- ARGS`: click keeps the separator after IMAGE
        rest = rest[1:]
    if a.verify or a.verify_gpg:
        return _run_verified(a, rest, extra)
    try:
        with images.local(a.image) as found:
            sys.stdout.flush()
            return run(found.layout, found.desc, rest, extra, on_pick=say,
                       precompiled=found.source == "store" or a.trust_precompiled)
    except ImageNotFound:
        remote = images.registry_ref(a.image)
        if remote is None:
            raise
    if a.policy or os.environ.get("WASMBUILD_POLICY"):
        # A policy applies where an image comes from a registry (as podman's does at pull time);
        # what the store holds already runs as it is.
        return _run_verified(a, rest, extra)
    from ..registry.ops import pull
    from ..registry.transport import RegistryOptions
    from ..store import normalize_tag, open_store

    store = open_store()
    opts = RegistryOptions.from_flags(a.plain_http, a.tls_verify, False, a.ca_file)
    with store.writing():
        desc = pull(remote, store, opts, on_pick=say)
        if a.trust_precompiled:
            from .precompiled import pull_extras

            pull_extras(remote, desc, store, opts)
        store.tag(normalize_tag(remote), desc)
    return run(store, desc, rest, extra, precompiled=a.trust_precompiled)


def _run_verified(a: RunArgs, rest: list[str], extra: dict[str, str]) -> int:
    """``run --verify``/a policy: a registry image is verified before it is pulled (by the
    verified digest), with only signed precompiled code; a local one (``--verify`` only) against
    the signatures its layout holds (pulled along with it)."""
    from .. import images
    from ..attest.sign import KeyOptions
    from .run import run

    remote = images.registry_ref(a.image)
    keys = (KeyOptions(key=a.verify, gpg_pubkey=a.verify_gpg, lookaside=a.lookaside)
            if a.verify or a.verify_gpg else None)
    if remote is None:
        if not a.verify:
            raise ConfigError(f"run {a.image}: a local image is verified with --verify KEY.pub only",
                              hint="policies and simple signatures apply to registry references")
        from ..attest.sign.cosign import verifier

        cosign = verifier(KeyOptions(key=a.verify))
        assert cosign is not None
        with images.local(a.image) as found:
            cosign.verify_local(found.layout, found.desc.digest)
            sys.stdout.flush()
            return run(found.layout, found.desc, rest, extra, on_pick=say, precompiled=found.source == "store")
    from ..attest.sign.service import gate
    from ..registry.ops import pull
    from ..registry.transport import RegistryOptions
    from ..store import normalize_tag, open_store

    opts = RegistryOptions.from_flags(a.plain_http, a.tls_verify, False, a.ca_file)
    checked = gate(remote, keys, a.policy, opts)
    assert checked is not None
    store = open_store()
    with store.writing():
        desc = pull(checked.pinned, store, opts, on_pick=say)
        if checked.extras is not None or a.trust_precompiled:
            from .precompiled import pull_extras

            pull_extras(remote, desc, store, opts, allow=None if a.trust_precompiled else checked.trusts_extra,
                        on_skip=say)
        store.tag(normalize_tag(remote), desc)
    return run(store, desc, rest, extra, precompiled=checked.extras is not None or a.trust_precompiled)


#: ``run``'s options: name -> (RunArgs field, takes a value).
_OPTIONS = {"-e": ("env", True), "--env": ("env", True), "--plain-http": ("plain_http", False),
            "--tls-verify": ("tls_verify", True), "--ca-file": ("ca_file", True),
            "--trust-precompiled": ("trust_precompiled", False)}


def parse_run_argv(argv: list[str]) -> RunArgs | None:
    """``run``'s argv (after ``run``) as the Typer command would parse it, or None whenever the
    full CLI should decide (help, an unknown or abbreviated option, a missing value, a value
    that looks like an option, no IMAGE). Options come before IMAGE (the command does not
    intersperse); ``--`` may end them; everything after IMAGE is the module's."""
    a = RunArgs(image="")
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if not token.startswith("-"):
            break
        name, eq, inline = token.partition("=")
        if name not in _OPTIONS:
            return None
        attr, takes_value = _OPTIONS[name]
        if not takes_value:
            if eq:
                return None  # click: "option does not take a value"
            setattr(a, attr, True)
            i += 1
            continue
        if eq and name == "-e":
            return None  # `-e=X`: click's short-option spelling rules; let it decide
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 2
        if value.startswith("-"):
            return None
        if attr == "env":
            a.env.append(value)
        elif attr == "ca_file":
            a.ca_file = Path(value)
        else:
            a.tls_verify = value
    if i >= len(argv) or argv[i].startswith("-"):
        return None  # no IMAGE, or one that looks like an option: the CLI says what is wrong
    a.image = argv[i]
    a.args = list(argv[i + 1:])
    return a
