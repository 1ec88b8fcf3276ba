"""``build``, ``plan``, ``check``, ``recipes``, ``schema``: from a Wasmfile to an image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ..oci.targets import names as target_names
from ..oci.targets import platforms_help
from ..ui import emit_json
from .app import app
from .options import CaFile, Json, PlainHttp, TlsVerify, WasmfileArg


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
    given = dict(locals())  # the parameters, named as BuildArgs' fields (tests/unit/test_build_fastpath.py)
    from ..buildcmd import BuildArgs, run_build

    run_build(BuildArgs(**given))


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
