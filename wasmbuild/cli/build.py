"""``build``, ``plan``, ``check``, ``recipes``, ``schema``: from a Wasmfile to an image."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..ui import emit_json, reporter
from .app import app
from .options import CaFile, Json, PlainHttp, TlsVerify, WasmfileArg, registry_options, sandbox_option


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
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every stage.")] = False,
    no_cache_stage: Annotated[list[str], typer.Option(
        "--no-cache-stage", help="Run this stage even if cached (repeatable).")] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Stages run at once.")] = os.cpu_count() or 1,
    cache_from: Annotated[list[str], typer.Option(
        "--cache-from", help="Import stage cache entries from this registry ref.")] = [],  # noqa: B006
    cache_to: Annotated[str | None, typer.Option(
        "--cache-to", help="Export this build's stage cache entries to this ref.")] = None,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    ca_file: CaFile = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream every step's output.")] = False,
    json_out: Json = False,
    sandbox: Annotated[str, typer.Option(
        "--sandbox", metavar="on|off", envvar="WASMBUILD_SANDBOX",
        help="Run host stages in a bubblewrap sandbox (default on; off runs them unconfined).")] = "on",
) -> None:
    """Build the image a Wasmfile describes (into the local store by default)."""
    from ..pipeline import BuildOptions, Request, build_and_publish, check_stage_names, image_names, prepare
    from ..publish import publishers
    from ..store import open_store

    path, ctx = _wasmfile(wasmfile, file)
    opts = registry_options(plain_http, tls_verify, False, ca_file)
    sandboxed = sandbox_option(sandbox)
    the_plan = prepare(path, context or ctx)
    check_stage_names(the_plan, no_cache_stage, "--no-cache-stage")
    names = image_names(the_plan, tag)
    pushes = [t for t in tag if "/" in t] if push else []
    if push and not pushes:
        from ..errors import ConfigError

        raise ConfigError("--push needs at least one -t REGISTRY/NAME[:TAG]")
    req = Request(
        plan=the_plan,
        options=BuildOptions(jobs=jobs, no_cache=no_cache, no_cache_stages=frozenset(no_cache_stage),
                             sandbox=sandboxed),
        publishers=publishers(names=names, outputs=output, push=pushes, store=open_store(), opts=opts),
        cache_from=cache_from, cache_to=cache_to, registry=opts,
    )
    rep = reporter(json_out, verbose)
    if not sandboxed:
        print("warning: --sandbox=off: host stages run unconfined, with your files, home and "
              "network", file=sys.stderr, flush=True)
    try:
        result = build_and_publish(req, rep)
    finally:
        rep.close()
    if json_out:
        emit_json(result)
    else:
        for where in result["tags"]:
            print(f"{where}  {result['digest']}")
        for ref in result["pushed"]:
            print(f"pushed {ref}")


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
    from ..check import check_paths

    problems, checked = check_paths(list(files or [Path("Wasmfile")]))
    if json_out:
        emit_json({"checked": checked, "problems": problems, "ok": not problems})
    else:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        if not problems:
            print(f"ok: {len(checked)} file(s) checked", file=sys.stderr)
    if problems:
        raise typer.Exit(2)


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
