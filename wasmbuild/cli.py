"""The ``wasmbuild`` command: options in, one call into the library, errors -> exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .errors import ConfigError, WasmbuildError
from .ui import emit_json, reporter

app = typer.Typer(
    name="wasmbuild",
    help="Build reproducible WebAssembly (WASI) OCI images from a Wasmfile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
cache_app = typer.Typer(help="Inspect and prune the stage cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
WasmfileArg = Annotated[Path, typer.Argument(help="A Wasmfile, or a directory holding one named `Wasmfile`.")]


def _version(value: bool) -> None:
    if value:
        print(f"wasmbuild {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """wasmbuild: a Wasmfile in, a reproducible Wasm OCI image out."""


def _load(path: Path, context: Path | None = None) -> Any:
    from .plan import plan
    from .wasmfile.loader import load

    return plan(load(path, context=context))


@app.command("build")
def build_cmd(
    wasmfile: WasmfileArg = Path("Wasmfile"),
    context: Annotated[Path | None, typer.Option(help="Build context (default: from the Wasmfile).")] = None,
    tag: Annotated[
        list[str],
        typer.Option("--tag", "-t", help="Tag (repeatable); with --push, a registry reference."),
    ] = [],  # noqa: B006
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://REF (default: the local store).",
        ),
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Push every -t reference to its registry.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every stage.")] = False,
    no_cache_stage: Annotated[
        list[str],
        typer.Option("--no-cache-stage", help="Run this stage even if cached (repeatable)."),
    ] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Stages run at once.")] = os.cpu_count() or 1,
    cache_from: Annotated[
        list[str], typer.Option("--cache-from", help="Import stage cache entries from this registry ref.")
    ] = [],  # noqa: B006
    cache_to: Annotated[
        str | None, typer.Option("--cache-to", help="Export this build's stage cache entries to this ref.")
    ] = None,
    plain_http: Annotated[bool, typer.Option("--plain-http", help="Use http for registries.")] = False,
    tls_verify: Annotated[
        str, typer.Option("--tls-verify", help="true/false: verify registry TLS certificates.")
    ] = "true",
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA bundle for registry TLS.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Stream every step's output.")] = False,
    compression: Annotated[
        str | None,
        typer.Option(help="Layer compression: gzip[:1-9] (default gzip:6) or zstd[:1-19] (zstd: level 19)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build the image a Wasmfile describes (into the local store by default)."""
    from .assemble.compress import parse as parse_compression
    from .build import BuildOptions, build
    from .store import tag_all

    layer_compression = parse_compression(compression) if compression else None
    if output:
        from .publish import check_output

        check_output(output)
    the_plan = _load(wasmfile, context)
    unknown = set(no_cache_stage) - set(the_plan.project.stages)
    if unknown:
        raise ConfigError(
            f"--no-cache-stage names unknown stage {sorted(unknown)[0]!r}",
            hint=f"stages: {', '.join(the_plan.project.stages)}",
        )
    rep = reporter(json_out, verbose)
    registry_opts = None
    if push or cache_to or cache_from or (output or "").startswith("docker://"):
        from .cli_publish import _registry_options

        registry_opts = _registry_options(plain_http, tls_verify, False, str(ca_file) if ca_file else None, None)
    from .stagecache import StageCache

    cache = StageCache()
    imported: list[str] = []
    if cache_from:
        from .sharedcache import import_from

        assert registry_opts is not None
        for ref in cache_from:
            keys, reason = import_from(ref, cache, registry_opts)
            imported += keys
            rep.note(reason or f"imported {len(keys)} stage cache entries from {ref}")
    try:
        built = build(
            the_plan,
            BuildOptions(jobs=jobs, no_cache=no_cache, no_cache_stages=frozenset(no_cache_stage), cache=cache,
                         compression=layer_compression),
            rep,
        )
    finally:
        if hasattr(rep, "close"):
            rep.close()
    tags = list(the_plan.project.model.image.tags) + list(tag)
    if not tags:
        tags = [the_plan.project.path.resolve().parent.name.lower() or "image"]
    if output:
        from .publish import publish_to

        written = [publish_to(output, built.layout, built.descriptor, registry_opts, tags=tags)]
    else:
        written = tag_all(built.layout, built.descriptor, tags)
    result: dict[str, Any] = {**built.to_json(), "tags": written}
    if cache_from:
        result["cache_imported"] = len(imported)
    if cache_to:
        from .sharedcache import export_to

        assert registry_opts is not None
        result["cache_to"] = export_to(cache_to, cache, [s.key for s in built.stages], registry_opts)
    if push:
        from .publish.registry import push as push_image

        refs = [t for t in tag if "/" in t]
        if not refs:
            raise ConfigError("--push needs at least one -t REGISTRY/NAME[:TAG]")
        assert registry_opts is not None
        result["pushed"] = [push_image(built.layout, built.descriptor, r, registry_opts) for r in refs]
    if json_out:
        emit_json(result)
    else:
        for name in written:
            print(f"{name}  {built.digest}")
        if push:
            for ref in result["pushed"]:
                print(f"pushed {ref}")


@app.command("plan")
def plan_cmd(wasmfile: WasmfileArg = Path("Wasmfile"), json_out: JsonOpt = False) -> None:
    """Show the stages as a DAG, in the order they run."""
    the_plan = _load(wasmfile)
    data = the_plan.to_json()
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
    json_out: JsonOpt = False,
) -> None:
    """Validate Wasmfiles and recipes without building (exit 1 if any problem)."""
    from .check import check_paths

    problems, checked = check_paths(list(files or [Path("Wasmfile")]))
    if json_out:
        emit_json({"checked": checked, "problems": problems, "ok": not problems})
    else:
        for p in problems:
            print(p)
        if not problems:
            print(f"ok: {len(checked)} file(s) checked", file=sys.stderr)
    if problems:
        raise typer.Exit(1)


@app.command("run", context_settings={"allow_interspersed_args": False})
def run_cmd(
    image: Annotated[str, typer.Argument(help="Store tag, digest, oci:DIR[:TAG] or registry reference.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments (replace the image's cmd).")] = None,
    env: Annotated[list[str], typer.Option("--env", "-e", help="KEY=VALUE added to the image's env.")] = [],  # noqa: B006
    plain_http: Annotated[bool, typer.Option("--plain-http", help="Use http to pull from the registry.")] = False,
) -> None:
    """Run an image's entrypoint with wasmtime (exit code = the module's)."""
    from .runtime import run

    extra: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {item!r} is not KEY=VALUE")
        extra[key] = value
    rest = list(args or [])
    if rest[:1] == ["--"]:  # `run IMAGE -- ARGS`: click keeps the separator after IMAGE
        rest = rest[1:]
    layout, desc = _resolve_for_run(image, plain_http)
    sys.stdout.flush()
    raise typer.Exit(run(layout, desc, rest, extra))


def _resolve_for_run(image: str, plain_http: bool) -> Any:
    from .errors import ImageNotFound
    from .images import resolve_local

    try:
        return resolve_local(image)
    except ImageNotFound:
        from . import reference

        ref = reference.parse(image) if not image.startswith("oci:") else None
        if ref is None or ref.registry is None:
            raise
        from .publish.registry import RegistryOptions, pull
        from .store import open_store

        store = open_store()
        return store, pull(image, store, RegistryOptions(plain_http=plain_http))


@app.command("recipes")
def recipes_cmd(json_out: JsonOpt = False) -> None:
    """List the recipes and their parameters."""
    from .recipes import list_recipes

    data: list[dict[str, Any]] = [
        {
            "name": r.name,
            "description": r.description,
            "path": str(r.path),
            "params": [
                {
                    "name": p.name,
                    "type": p.type,
                    "required": p.required,
                    "default": p.default,
                    "description": p.description,
                }
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
    from .wasmfile.model import json_schema

    emit_json(json_schema())


@app.command("images")
def images_cmd(json_out: JsonOpt = False) -> None:
    """List the images in the local store."""
    from .store import open_store

    store = open_store()
    data: list[dict[str, Any]] = [
        {"tag": t, "digest": d.digest, "platform": d.platform} for t, d in sorted(store.tags().items())
    ]
    if json_out:
        emit_json(data)
        return
    for row in data:
        plat = "/".join((row["platform"] or {}).values()) if row["platform"] else ""
        print(f"{row['tag']:40} {row['digest'][:19]}  {plat}")


@app.command("fetch")
def fetch_cmd(
    add: Annotated[
        list[Path],
        typer.Option("--add", help="Put FILE into the download cache (offline sources)."),
    ] = [],  # noqa: B006
    json_out: JsonOpt = False,
) -> None:
    """Seed the content-addressed download cache with files obtained another way."""
    from . import fetch

    if not add:
        raise ConfigError("nothing to do", hint="use wasmbuild fetch --add FILE")
    out = []
    for f in add:
        if not f.is_file():
            raise ConfigError(f"{f} is not a file")
        out.append({"file": str(f), "sha256": fetch.add(f)})
    if json_out:
        emit_json(out)
    else:
        for row in out:
            print(f"{row['sha256']}  {row['file']}")


@cache_app.command("ls")
def cache_ls(json_out: JsonOpt = False) -> None:
    """List stage cache entries (least recently used first)."""
    from .stagecache import StageCache

    entries = StageCache().entries()
    data: list[dict[str, Any]] = [
        {"key": e.key, "stage": e.stage, "size": e.size, "last_used": e.last_used} for e in entries
    ]
    if json_out:
        emit_json(data)
        return
    for row in data:
        print(f"{str(row['key'])[:16]}  {row['stage']:20} {row['size']:>12}")
    print(f"{len(data)} entries, {sum(r['size'] for r in data)} bytes", file=sys.stderr)


@cache_app.command("prune")
def cache_prune(
    max_size: Annotated[str, typer.Option(help="Keep at most this much (e.g. 500M, 2G; 0 empties).")] = "0",
    json_out: JsonOpt = False,
) -> None:
    """Remove least recently used entries until the cache fits in --max-size."""
    from .stagecache import StageCache, parse_size

    removed, freed = StageCache().prune(parse_size(max_size, "--max-size"))
    if json_out:
        emit_json({"removed": removed, "freed": freed})
    else:
        print(f"removed {removed} entries, freed {freed} bytes")


def run_cli(argv: list[str]) -> int:
    """Run the app; a :class:`WasmbuildError` becomes one line on stderr and its exit code."""
    if not any(c.name == "push" for c in app.registered_commands):
        from .cli_publish import register

        register(app)  # push, pull, inspect, login, logout
    try:
        app(args=argv, prog_name="wasmbuild", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except WasmbuildError as err:
        if err.details:
            print(err.details, file=sys.stderr)
        print(f"error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
