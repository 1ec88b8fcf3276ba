"""``build``, ``plan``, ``check``, ``recipes``, ``schema``: from a Wasmfile to an image."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..oci.targets import names as target_names
from ..oci.targets import platforms_help
from ..ui import emit_json
from .app import app
from .options import CaFile, Json, PlainHttp, TlsVerify, WasmfileArg, registry_options, sandbox_option

if TYPE_CHECKING:
    from ..publish.result import BuildResult


def _wasmfile(path: Path, file: Path | None) -> tuple[Path, Path | None]:
    """(Wasmfile, context override): ``-f FILE [CONTEXT]`` as buildx, or ``[WASMFILE|DIR]``."""
    if file is None:
        return path, None
    return file, (path if path != Path("Wasmfile") else None)


@app.command("build")
def build_cmd(
    wasmfile: WasmfileArg = Path("Wasmfile"),
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="The Wasmfile (the argument is then the context).")] = None,
    context: Annotated[Path | None, typer.Option(
        help="Build context (default: from the Wasmfile).")] = None,
    tag: Annotated[list[str], typer.Option(
        "--tag", "-t", help="Name the image (repeatable); with --push, a registry reference.")] = [],  # noqa: B006
    output: Annotated[list[str], typer.Option(
        "--output", "-o", help="oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://REF "
        "(repeatable; default: the local store).")] = [],  # noqa: B006
    push: Annotated[bool, typer.Option("--push", help="Push every -t REGISTRY/NAME[:TAG].")] = False,
    sign: Annotated[str | None, typer.Option(
        "--sign", metavar="KEY", help="With --push: sign what was pushed, by digest (cosign format; also the "
        "SBOM, provenance and precompiled code). PREFIX.key or env://VAR (docs/signing.md).")] = None,
    sign_gpg: Annotated[str | None, typer.Option(
        "--sign-gpg", metavar="KEY",
        help="With --push: simple signing with this OpenPGP key (needs --lookaside).")] = None,
    lookaside: Annotated[str | None, typer.Option(
        "--lookaside", metavar="URL", help="Where --sign-gpg writes: file://DIR or an http(s) staging URL.")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        "--passphrase-file", metavar="FILE",
        help="The signing key's passphrase (else WASMBUILD_KEY_PASSPHRASE).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every stage.")] = False,
    no_cache_stage: Annotated[list[str], typer.Option(
        "--no-cache-stage", help="Run this stage even if cached (repeatable).")] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Stages run at once.")] = os.cpu_count() or 1,
    cache_from: Annotated[list[str], typer.Option(
        "--cache-from", help="Import stage cache entries from this registry ref.")] = [],  # noqa: B006
    cache_to: Annotated[str | None, typer.Option(
        "--cache-to", help="Export this build's stage cache entries to this ref.")] = None,
    fmt: Annotated[list[str], typer.Option(
        "--format", metavar="TARGET", help=f"Image shape to write, repeatable: {', '.join(target_names())} "
        "(default: image.targets; several give one index).")] = [],  # noqa: B006
    platform: Annotated[list[str], typer.Option(
        "--platform", metavar="OS/ARCH", help="The target giving this platform, repeatable: "
        f"{platforms_help()}.")] = [],  # noqa: B006
    include: Annotated[list[str], typer.Option(
        "--include", metavar="IMAGE", help="Add an existing image to the index by reference, "
        "repeatable: oci:DIR[:TAG] or REGISTRY/NAME@sha256:DIGEST.")] = [],  # noqa: B006
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream every step's output.")] = False,
    compression: Annotated[str | None, typer.Option(
        help="Layer compression: gzip[:1-9] (default gzip:6) or zstd[:1-19] (zstd: level 19).")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="STAGE", help="Build up to this stage, no image (-o local:DIR gets its outputs).")] = None,
    progress: Annotated[str, typer.Option(
        "--progress", metavar="MODE", help="auto, plain (a timed line per event, for CI), tty or json.")] = "auto",
    metadata_file: Annotated[Path | None, typer.Option(
        "--metadata-file", metavar="FILE", help="Write the build result (as --json prints it) to FILE.")] = None,
    sbom: Annotated[list[str], typer.Option(
        "--sbom", metavar="FORMAT", help="SBOM format to attach: spdx (default) or cyclonedx (repeatable).")] = [],  # noqa: B006
    no_sbom: Annotated[bool, typer.Option(
        "--no-sbom", help="Attach no SBOM and no provenance (both are on by default).")] = False,
    precompile: Annotated[bool, typer.Option(
        "--precompile", help="Attach wasmtime-precompiled code for this machine (docs/precompiled.md).")] = False,
    precompile_target: Annotated[list[str], typer.Option(
        "--precompile-target", metavar="TRIPLE", help="Attach precompiled code for this target, "
        "repeatable: host, x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu.")] = [],  # noqa: B006
    json_out: Json = False,
    sandbox: Annotated[str, typer.Option(
        "--sandbox", metavar="on|off", envvar="WASMBUILD_SANDBOX",
        help="Run host stages in a bubblewrap sandbox (default on; off runs them unconfined).")] = "on",
) -> None:
    """Build the image a Wasmfile describes (into the local store by default)."""
    from ..assemble.assemble import AssembleOptions
    from ..assemble.compress import parse as parse_compression
    from ..attest import AttestOptions
    from ..execute.scheduler import ExecuteOptions
    from ..pipeline import (
        BuildOptions,
        CacheExchange,
        build_and_publish,
        build_target,
        check_stage_names,
        image_names,
        prepare,
    )
    from ..progress import progress_reporter
    from ..publish import publishers
    from ..store import open_store

    layers = AssembleOptions(compression=parse_compression(compression) if compression else None)
    path, ctx = _wasmfile(wasmfile, file)
    attest = AttestOptions.parse(sbom, not no_sbom)
    from ..wasm.precompiled import HOST, resolve_targets

    precompiled = resolve_targets(precompile_target or ([HOST] if precompile else []))
    opts = registry_options(plain_http, tls_verify, False, ca_file)
    targets = _targets(fmt, platform)
    sandboxed = sandbox_option(sandbox)
    from ..execute.limits import check_environment

    check_environment()  # a bad WASMBUILD_STAGE_TIMEOUT/MAX_OUTPUT/MAX_LAYER_FILES, before any work
    rep = progress_reporter(progress, json_out, verbose)  # an unknown mode fails before any work
    the_plan = prepare(path, context or ctx, target)
    check_stage_names(the_plan, no_cache_stage, "--no-cache-stage")
    names = image_names(the_plan, tag)
    pushes = [t for t in tag if "/" in t] if push else []
    if push and not pushes:
        from ..errors import ConfigError

        raise ConfigError("--push needs at least one -t REGISTRY/NAME[:TAG]")
    from .trust import build_signers

    chosen_signers = build_signers(sign, sign_gpg, lookaside, passphrase_file, pushes)  # a bad key: before work
    export = _target_export(target, output, tag, push) if target else None
    if target:
        image_only = [flag for flag, given in (("--format", fmt), ("--platform", platform), ("--include", include),
                                               ("--sbom", sbom), ("--no-sbom", no_sbom), ("--compression", compression),
                                               ("--precompile", precompile or precompile_target)) if given]
        if image_only:
            from ..errors import ConfigError

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
        from ..attest.sign.service import sign_image

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
    from .trust import report

    for signed in result.signed or ():
        report(dict(signed), False)


def _targets(formats: list[str], platforms: list[str]) -> tuple[str, ...]:
    """``--format`` and ``--platform`` as target names, in the order given, each once."""
    from ..oci.targets import chosen

    return chosen(formats, platforms)


def _target_export(target: str, outputs: list[str], tags: list[str], push: bool) -> Path | None:
    """``--target``: a stage, not an image, so the only output is ``local:DIR`` (its files)."""
    from ..errors import ConfigError
    from ..publish.local import from_buildx

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

    from ..errors import ConfigError

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

    from ..fsutil import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(result.metadata(), indent=2, sort_keys=True) + "\n").encode())


@app.command("plan")
def plan_cmd(wasmfile: WasmfileArg = Path("Wasmfile"), json_out: Json = False) -> None:
    """Show the stages as a DAG, in the order they run."""
    from ..pipeline import prepare

    data = prepare(wasmfile).to_json()
    if json_out:
        emit_json(data)
        return
    print(f"{data['wasmfile']} (context {data['context']})")
    for i, level in enumerate(data["levels"], 1):
        print(f"level {i} (parallel): {', '.join(level)}")
    for s in data["stages"]:
        deps = f" <- {', '.join(s['depends_on'])}" if s["depends_on"] else ""
        what = f"recipe {s['recipe']}" if s["recipe"] else f"{len(s['steps'])} step(s)"
        print(f"  stage {s['name']}{deps}: {what} on {s['executor']}; outputs {', '.join(s['outputs'])}")
    img = data["image"]
    print(f"image {img['platform']} entrypoint {img['entrypoint']} tags {img['tags']}")
    print(f"  targets {', '.join(img['targets'])}"
          + (f"; includes {', '.join(img['include'])}" if img["include"] else ""))
    for f in img["files"]:
        origin = f"stage {f['from']}:{f['path']}" if "from" in f else f["src"]
        print(f"  {f['dest']} <- {origin}")
    for name in data["unused_stages"]:
        print(f"  (stage {name} is not used by the image and will not run)")


@app.command("check")
def check_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="Wasmfiles and recipe files/dirs.")] = None,
    json_out: Json = False,
) -> None:
    """Validate Wasmfiles and recipes without building (exit 2 if any problem)."""
    from ..check import check_command

    code = check_command(list(files or []), json_out)
    if code:
        raise typer.Exit(code)


@app.command("recipes")
def recipes_cmd(json_out: Json = False) -> None:
    """List the recipes and their parameters."""
    from ..render.recipes import list_recipes

    data: list[dict[str, Any]] = [
        {
            "name": r.name,
            "description": r.description,
            "path": str(r.path),
            "params": [
                {"name": p.name, "type": p.type, "required": p.required, "default": p.default,
                 "description": p.description}
                for p in r.params.values()
            ],
        }
        for r in list_recipes()
    ]
    if json_out:
        emit_json(data)
        return
    for r in data:
        print(f"{r['name']}: {r['description']}")
        for p in r["params"]:
            flag = "required" if p["required"] else f"default {p['default']!r}"
            print(f"    {p['name']} ({p['type']}, {flag}): {p['description']}")


@app.command("schema")
def schema_cmd() -> None:
    """Print the Wasmfile JSON Schema."""
    from ..load.model import json_schema

    emit_json(json_schema())
