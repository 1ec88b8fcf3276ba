"""``init`` and ``toolchains``: start a Wasmfile for a project, and check what building it needs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..ui import emit_json
from .app import app
from .options import Json, WasmfileArg


@app.command("init")
def init_cmd(
    folder: Annotated[Path, typer.Argument(help="The project's folder.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing Wasmfile.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Detect and report; write nothing.")] = False,
    json_out: Json = False,
) -> None:
    """Write a commented Wasmfile for the project here (a Cargo crate, a Go module, Zig, C/C++, a Python app)."""
    from ..scaffold import init

    result = init(folder, force=force, dry_run=dry_run)
    if json_out:
        emit_json(result)
        return
    det = result["detected"]
    verb = "would write" if dry_run else "wrote"
    print(f"{det['kind']} project {det['name']!r}: recipe {det['recipe']} ({', '.join(det['sources'])})")
    print(f"{verb} {', '.join(result['written'])}" + (f"; kept {', '.join(result['kept'])}" if result["kept"] else ""))
    for note in det["notes"]:
        print(note if note.startswith("warning: ") else f"note: {note}", file=sys.stderr)
    print(f"next: {result['build']} && {result['run']}")


@app.command("toolchains")
def toolchains_cmd(
    wasmfile: WasmfileArg = Path("Wasmfile"),
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="The Wasmfile (the argument is then the context).")] = None,
    json_out: Json = False,
) -> None:
    """Check that the toolchains (and container engine) the Wasmfile's stages need are here (exit 4 if not)."""
    from ..buildcmd import _wasmfile
    from ..errors import ConfigError, ToolchainError
    from ..execute import toolchains
    from ..pipeline import prepare

    path, ctx = _wasmfile(wasmfile, file)
    the_plan = prepare(path, ctx)
    needed: dict[str, list[str]] = {}
    for spec in the_plan.stages:
        name = "engine" if spec.builder else (spec.toolchain or "none")
        if name != "none":
            needed.setdefault(name, []).append(spec.name)
        if not spec.builder and sandbox_on():  # host steps run in bubblewrap (docs/hardening.md)
            needed.setdefault("sandbox", []).append(spec.name)
        for tool in () if spec.builder else spec.tools:  # declared host tools (`tools:`)
            needed.setdefault(f"tool:{tool}", []).append(spec.name)
        for inp in spec.inputs:  # toolchains pinned as packages (`toolchain: true` downloads)
            if inp.url is not None and inp.toolchain:
                needed.setdefault(f"package:{inp.url}", []).append(spec.name)
    rows: list[dict[str, Any]] = []
    for name, stages in needed.items():
        row: dict[str, Any] = {"name": name, "stages": stages, "ok": True}
        try:
            if name.startswith("tool:"):
                from dataclasses import replace

                from ..execute.tools import resolve

                user = next(s for s in the_plan.stages if s.name == stages[0])
                [found_tool] = resolve(replace(user, tools=(name[5:],)))  # each tool on its own
                row["found"] = found_tool.path + (f" ({found_tool.version})" if found_tool.version else "")
            elif name.startswith("package:"):
                row["found"] = _pinned_package(the_plan, stages[0], name[8:])
            elif name == "engine":
                _check_engine()
                row["found"] = "a Docker-API engine"
            elif name == "sandbox":
                from ..execute.executors.sandbox import check

                row["found"] = check()
            else:
                row["setup"] = list(toolchains.setup(name))  # what the GitHub Action runs first
                found = toolchains.get(name)  # as the build finds it (remembered, re-probed on change)
                row["found"] = found.identity if found else name
                if found is not None:  # the folder's own report (rust: which rustc and why)
                    specs = [s for s in the_plan.stages if s.name in stages]
                    row.update(toolchains.report(name, found, specs, the_plan.project.context))
        except (ToolchainError, ConfigError) as err:
            row.update(ok=False, error=err.render())
        rows.append(row)
    ok = all(r["ok"] for r in rows)
    if json_out:
        emit_json({"toolchains": rows, "ok": ok})
    else:
        for r in rows:
            state = f"ok ({r['found']})" if r["ok"] else f"{r.get('state', 'MISSING')}: {r['error']}"
            print(f"{r['name']} (stages {', '.join(r['stages'])}): {state}")
            if r.get("chosen"):
                print(f"  chosen: {r['chosen']}")
            for other in r.get("others", []):
                print(f"  also found: {other}")
        if not rows:
            print("no stage needs a toolchain")
    if not ok:
        raise typer.Exit(4)


def _pinned_package(the_plan: Any, stage: str, url: str) -> str:
    """What a toolchain pinned as a package is: its pin, and whether the download cache has it."""
    from ..execute.fetch import cached

    inp = next(i for s in the_plan.stages if s.name == stage for i in s.inputs if i.url == url)
    here = "in the download cache" if cached(inp.pin) is not None else "fetched by the build"
    return f"pinned by {inp.pin.shown}, {here}"


def sandbox_on() -> bool:
    """Whether host stages will run sandboxed (``WASMBUILD_SANDBOX=off`` turns it off)."""
    import os

    from .options import sandbox_option

    return sandbox_option(os.environ.get("WASMBUILD_SANDBOX", "on"))


def _check_engine() -> None:
    """Raises the engine's own ToolchainError (which socket, how to start one) if none answers."""
    from ..execute.executors.engine import connect

    with connect():
        pass
