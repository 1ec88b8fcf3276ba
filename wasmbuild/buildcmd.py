"""``wasmbuild build`` without the CLI framework: its arguments as one typed object, the command
itself, and a parser for the common argv (``__main__``'s fast path, like ``run``'s and
``check``'s). The Typer command (``cli/build.py``) fills the same :class:`BuildArgs` and calls the
same :func:`run_build`; any argv the fast parser does not know (help, signing, registry options,
``--opt`` forms click allows and this does not) goes to Typer, so the two never disagree on an
argv both take (tests/unit/test_build_fastpath.py compares them).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ui import emit_json

if TYPE_CHECKING:
    from .publish.result import BuildResult
    from .registry.transport import RegistryOptions


@dataclass(frozen=True)
class BuildArgs:
    """Every ``build`` option, with the defaults of the Typer command."""

    wasmfile: Path = Path("Wasmfile")
    file: Path | None = None
    context: Path | None = None
    tag: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    push: bool = False
    sign: str | None = None
    sign_gpg: str | None = None
    lookaside: str | None = None
    passphrase_file: Path | None = None
    no_cache: bool = False
    no_cache_stage: list[str] = field(default_factory=list)
    jobs: int = os.cpu_count() or 1
    cache_from: list[str] = field(default_factory=list)
    cache_to: str | None = None
    fmt: list[str] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    plain_http: bool = False
    tls_verify: str = "true"
    ca_file: Path | None = None
    verbose: bool = False
    compression: str | None = None
    target: str | None = None
    progress: str = "auto"
    metadata_file: Path | None = None
    sbom: list[str] = field(default_factory=list)
    no_sbom: bool = False
    precompile: bool = False
    precompile_target: list[str] = field(default_factory=list)
    json_out: bool = False
    sandbox: str = "on"


#: The options the fast parser takes: flag -> (field, kind). Kinds: ``flag`` (a bool set by its
#: presence), ``str``, ``path``, ``int`` (>= 1), ``list`` (repeatable strings).
FAST_OPTIONS: dict[str, tuple[str, str]] = {
    "--file": ("file", "path"), "-f": ("file", "path"), "--context": ("context", "path"),
    "--tag": ("tag", "list"), "-t": ("tag", "list"), "--output": ("output", "list"), "-o": ("output", "list"),
    "--no-cache": ("no_cache", "flag"), "--no-cache-stage": ("no_cache_stage", "list"),
    "--jobs": ("jobs", "int"), "-j": ("jobs", "int"), "--format": ("fmt", "list"), "--platform": ("platform", "list"),
    "--include": ("include", "list"), "--verbose": ("verbose", "flag"), "-v": ("verbose", "flag"),
    "--compression": ("compression", "str"), "--target": ("target", "str"), "--progress": ("progress", "str"),
    "--metadata-file": ("metadata_file", "path"), "--sbom": ("sbom", "list"), "--no-sbom": ("no_sbom", "flag"),
    "--precompile": ("precompile", "flag"), "--precompile-target": ("precompile_target", "list"),
    "--json": ("json_out", "flag"), "--sandbox": ("sandbox", "str"),
}


def parse_build_argv(args: list[str]) -> BuildArgs | None:
    """``build``'s arguments (after ``build``) as :class:`BuildArgs`, or None for anything this
    parser does not take (the full CLI answers those, errors included)."""
    values: dict[str, Any] = {"sandbox": os.environ.get("WASMBUILD_SANDBOX", "on")}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = FAST_OPTIONS.get(name)
        if spec is None:
            return None
        key, kind = spec
        if kind == "flag":
            if eq:
                return None
            values[key] = True
            continue
        if not eq:
            if i >= len(args) or args[i].startswith("-"):
                return None
            value = args[i]
            i += 1
        if kind == "list":
            values.setdefault(key, []).append(value)
        elif kind == "int":
            if not value.isdigit() or int(value) < 1:
                return None
            values[key] = int(value)
        elif kind == "path":
            if not value:
                return None
            values[key] = Path(value)
        else:
            values[key] = value
    if len(positional) > 1 or (positional and not positional[0]):
        return None
    if positional:
        values["wasmfile"] = Path(positional[0])
    return BuildArgs(**values)


def registry_options(plain_http: bool = False, tls_verify: str = "true", no_tls_verify: bool = False,
                     ca_file: Path | None = None, timeout: float | None = None) -> RegistryOptions:
    from .registry.transport import RegistryOptions

    return RegistryOptions.from_flags(plain_http, tls_verify, no_tls_verify, ca_file, timeout)


def sandbox_option(value: str) -> bool:
    """``--sandbox on|off`` (or ``WASMBUILD_SANDBOX``) as a bool."""
    from .errors import ConfigError

    text = value.strip().lower()
    if text not in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
        raise ConfigError(f"--sandbox expects on or off, got {value!r}",
                          hint="--sandbox=off runs host stages unconfined")
    return text in {"true", "1", "yes", "on"}


def _wasmfile(path: Path, file: Path | None) -> tuple[Path, Path | None]:
    """(Wasmfile, context override): ``-f FILE [CONTEXT]`` as buildx, or ``[WASMFILE|DIR]``."""
    if file is None:
        return path, None
    return file, (path if path != Path("Wasmfile") else None)


def run_build(a: BuildArgs) -> None:
    """Build the image a Wasmfile describes (into the local store by default)."""
    (
        wasmfile, file, context, tag, output, push, sign, sign_gpg, lookaside, passphrase_file, no_cache,
        no_cache_stage, jobs, cache_from, cache_to, fmt, platform, include, plain_http, tls_verify, ca_file,
        verbose, compression, target, progress, metadata_file, sbom, no_sbom, precompile, precompile_target,
        json_out, sandbox
    ) = (
        a.wasmfile, a.file, a.context, a.tag, a.output, a.push, a.sign, a.sign_gpg, a.lookaside, a.passphrase_file,
        a.no_cache, a.no_cache_stage, a.jobs, a.cache_from, a.cache_to, a.fmt, a.platform, a.include, a.plain_http,
        a.tls_verify, a.ca_file, a.verbose, a.compression, a.target, a.progress, a.metadata_file, a.sbom,
        a.no_sbom, a.precompile, a.precompile_target, a.json_out, a.sandbox
    )
    from .assemble.assemble import AssembleOptions
    from .assemble.compress import parse as parse_compression
    from .attest import AttestOptions
    from .execute.scheduler import ExecuteOptions
    from .pipeline import (
        BuildOptions,
        CacheExchange,
        build_and_publish,
        build_target,
        check_stage_names,
        image_names,
        prepare,
    )
    from .progress import progress_reporter
    from .publish import publishers
    from .store import open_store

    layers = AssembleOptions(compression=parse_compression(compression) if compression else None)
    path, ctx = _wasmfile(wasmfile, file)
    attest = AttestOptions.parse(sbom, not no_sbom)
    from .wasm.precompiled import HOST, resolve_targets

    precompiled = resolve_targets(precompile_target or ([HOST] if precompile else []))
    opts = registry_options(plain_http, tls_verify, False, ca_file)
    targets = _targets(fmt, platform)
    sandboxed = sandbox_option(sandbox)
    from .execute.limits import check_environment

    check_environment()  # a bad WASMBUILD_STAGE_TIMEOUT/MAX_OUTPUT/MAX_LAYER_FILES, before any work
    rep = progress_reporter(progress, json_out, verbose)  # an unknown mode fails before any work
    the_plan = prepare(path, context or ctx, target)
    check_stage_names(the_plan, no_cache_stage, "--no-cache-stage")
    names = image_names(the_plan, tag)
    pushes = [t for t in tag if "/" in t] if push else []
    if push and not pushes:
        from .errors import ConfigError

        raise ConfigError("--push needs at least one -t REGISTRY/NAME[:TAG]")
    chosen_signers: list[Any] = []
    if sign is not None or sign_gpg is not None:
        chosen_signers = build_signers(sign, sign_gpg, lookaside, passphrase_file, pushes)  # a bad key: before work
    export = _target_export(target, output, tag, push) if target else None
    if target:
        image_only = [flag for flag, given in (("--format", fmt), ("--platform", platform), ("--include", include),
                                               ("--sbom", sbom), ("--no-sbom", no_sbom), ("--compression", compression),
                                               ("--precompile", precompile or precompile_target)) if given]
        if image_only:
            from .errors import ConfigError

            raise ConfigError(f"--target {target} builds a stage, not an image: {image_only[0]} has no image to "
                              "apply to", hint=f"drop {image_only[0]}, or build the image without --target")
    if metadata_file is not None:
        _check_writable(metadata_file, "--metadata-file")
    store = open_store()  # one Layout object: the build writes it and the store publisher reads it
    options = BuildOptions(
        store=store, execute=ExecuteOptions(jobs=jobs, no_cache=no_cache, no_cache_stages=frozenset(no_cache_stage),
                                            sandbox=sandboxed),
        assemble=layers, targets=targets, include=tuple(include), registry=opts, attest=attest,
        precompile=precompiled)
    exchange = CacheExchange(cache_from=cache_from, cache_to=cache_to)
    multi = publishers(names=names, outputs=output, push=pushes, store=store, opts=opts) if not target else None
    if not sandboxed:  # always said, whatever --progress/--json: it is the user's security
        print("warning: --sandbox=off: host stages run unconfined, with your files, home and "
              "network", file=sys.stderr, flush=True)
    try:
        if multi is None:
            result = build_target(the_plan, options, rep, export, exchange)
        else:
            result = build_and_publish(the_plan, options, multi, rep, exchange)
    finally:
        rep.close()
    if chosen_signers:
        from .attest.sign.service import sign_image

        result = dataclasses.replace(result, signed=tuple(
            sign_image(t, chosen_signers, opts, digest=result.digest) for t in pushes))
    if metadata_file is not None:
        _write_metadata(metadata_file, result)
    if json_out:
        emit_json(result.to_json())
    else:
        _say(result)



def _say(result: BuildResult) -> None:
    """The result, for a person: each name with the digest (an index's entries too), or the stage built."""
    if result.image is None:
        built = sum(not s.cached for s in result.stages)
        print(f"target {result.target}: {len(result.stages)} stage(s), {built} built"
              + "".join(f", exported to {where}" for where in result.exported))
        return
    for where in result.published.tags:
        print(f"{where}  {result.image.digest}")
    if len(result.image.targets) > 1:  # an index: say what is in it
        for name, desc in result.image.targets:
            plat = "/".join((desc.platform or {}).get(k, "?") for k in ("os", "architecture"))
            print(f"  {name:<8} {plat:<12} {desc.digest}", file=sys.stderr)
    for ref in result.published.pushed:
        print(f"pushed {ref}")
    if result.signed:
        for signed in result.signed:
            report(dict(signed), False)


def _targets(formats: list[str], platforms: list[str]) -> tuple[str, ...]:
    """``--format`` and ``--platform`` as target names, in the order given, each once."""
    from .oci.targets import chosen

    return chosen(formats, platforms)


def _target_export(target: str, outputs: list[str], tags: list[str], push: bool) -> Path | None:
    """``--target``: a stage, not an image, so the only output is ``local:DIR`` (its files)."""
    from .errors import ConfigError
    from .publish.local import from_buildx

    normal = [from_buildx(o) for o in outputs]
    other = [o for o in normal if not o.startswith("local:")]
    if other or tags or push or len(normal) > 1:
        what = "-t/--push" if tags or push else f"-o {other[0]}" if other else "a second -o"
        raise ConfigError(f"--target {target} builds a stage, not an image: {what} has nothing to publish",
                          hint="export its outputs with one -o local:DIR, or -o type=local,dest=DIR")
    return Path(normal[0].removeprefix("local:")) if normal else None


def _check_writable(path: Path, flag: str) -> None:
    """Before any work: ``path`` can be written (not a directory; its folder exists or can be
    made and is writable), so a build is not lost to a bad ``--metadata-file`` at its end."""
    import os

    from .errors import ConfigError

    folder = path.parent if str(path.parent) else Path(".")
    problem = None
    if path.is_dir():
        problem = "is a directory"
    elif folder.exists() and (not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK)):
        problem = f"cannot be written ({folder} is not a writable directory)"
    elif not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot be written ({folder}: {exc.strerror or exc})"
    if problem:
        raise ConfigError(f"{flag} {path} {problem}", hint="name a file in a writable directory")


def _write_metadata(path: Path, result: BuildResult) -> None:
    """buildx's ``--metadata-file``: the result as ``--json`` prints it, plus buildx's keys."""
    import json

    from .fsutil import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(result.metadata(), indent=2, sort_keys=True) + "\n").encode())


def report(data: dict[str, Any], as_json: bool) -> None:
    """How ``sign`` and ``build --sign`` say what they wrote."""
    if as_json:
        emit_json(data)
        return
    for fmt, written in data["signatures"].items():
        print(f"signed {data['reference']} ({fmt}): "
              + (", ".join(written) if written else "already signed with this key, nothing written"))
    if data.get("attestations"):
        print(f"signed {len(data['attestations'])} attestation(s) as DSSE envelopes", file=sys.stderr)
    if data.get("precompiled"):
        print(f"signed {len(data['precompiled'])} precompiled extra(s)", file=sys.stderr)


def build_signers(key: str | None, gpg: str | None, lookaside: str | None, passphrase: Path | None,
                  pushes: list[str]) -> list[Any]:
    """``--sign``/``--sign-gpg`` as signers, their keys loaded (and decrypted) before the build."""
    if key is None and gpg is None:
        return []
    from .errors import ConfigError

    if not pushes:
        raise ConfigError("--sign signs what --push pushed (by digest)", hint="add --push -t REGISTRY/NAME:TAG")
    from .attest.sign import KeyOptions, signers

    return signers(KeyOptions(key=key, passphrase_file=passphrase, gpg_key=gpg, lookaside=lookaside))
