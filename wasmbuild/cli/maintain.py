"""``fetch``, ``cache ls|prune``, ``gc``, ``login``, ``logout``: the machine's state."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from ..ui import emit_json
from .app import app, cache_app
from .options import CaFile, Json, NoTlsVerify, PlainHttp, Timeout, TlsVerify, registry_options


@app.command("fetch")
def fetch_cmd(
    add: Annotated[list[Path], typer.Option("--add", help="Put FILE into the download cache (offline sources).")] = [],  # noqa: B006
    json_out: Json = False,
) -> None:
    """Seed the content-addressed download cache with files obtained another way."""
    from ..execute import fetch

    if not add:
        raise ConfigError("nothing to do", hint="use wasmbuild fetch --add FILE")
    out = []
    for f in add:
        if not f.is_file():
            raise ConfigError(f"{f} is not a file", hint="give the path of the downloaded file")
        out.append({"file": str(f), **fetch.seed(f)})
    if json_out:
        emit_json(out)
    else:
        for row in out:
            print(f"{row['sha256']}  {row['file']}")


@cache_app.command("ls")
def cache_ls(json_out: Json = False) -> None:
    """List stage cache entries (least recently used first) and the size of every cache area."""
    from ..cache.prune import usage
    from ..cache.stages import StageCache

    entries = StageCache().entries()
    areas = usage()
    data: dict[str, Any] = {
        "stages": [{"key": e.key, "stage": e.stage, "size": e.size, "last_used": e.last_used}
                   for e in entries],
        "areas": areas,
        "total": sum(areas.values()),
    }
    if json_out:
        emit_json(data)
        return
    for row in data["stages"]:
        print(f"{str(row['key'])[:16]}  {row['stage']:20} {row['size']:>12}")
    for area, size in areas.items():
        print(f"{area:12} {size:>14} bytes", file=sys.stderr)
    print(f"{len(entries)} stage entries, {data['total']} bytes in all", file=sys.stderr)


@cache_app.command("prune")
def cache_prune(
    max_size: Annotated[str, typer.Option(help="Keep at most this much in all (e.g. 500M, 2G; 0 empties).")] = "0",
    json_out: Json = False,
) -> None:
    """Remove least recently used cache items, in every area, until the cache fits in --max-size."""
    from ..cache.prune import parse_size, prune, usage

    bound = parse_size(max_size, "--max-size")
    before = sum(usage().values())
    removed, freed = prune(bound)
    after = usage()
    result = {"removed": removed, "freed": freed, "before": before, "after": sum(after.values()),
              "areas": after}
    if json_out:
        emit_json(result)
    else:
        print(f"removed {removed} items, freed {freed} bytes ({before} -> {result['after']} bytes)")


@app.command("gc")
def gc_cmd(json_out: Json = False) -> None:
    """Delete the store's blobs no tag reaches, and leftovers of killed writers."""
    from ..store import open_store

    store = open_store()
    before = store.blobs_size()
    def waiting() -> None:
        print("gc: waiting for builds and pulls writing to the store...", file=sys.stderr)

    freed = store.gc(on_wait=waiting)
    after = store.blobs_size()
    result = {"store": str(store.path), "before": before, "after": after, "freed": freed}
    if json_out:
        emit_json(result)
    else:
        print(f"{store.path}: {before} -> {after} bytes ({freed} freed)")


@app.command("login")
def login_cmd(
    registry: Annotated[str, typer.Argument(help="Registry host[:port]")],
    username: Annotated[str, typer.Option("--username", "-u", help="User name")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input")] = False,
    plain_http: PlainHttp = False,
    tls_verify: TlsVerify = "true",
    no_tls_verify: NoTlsVerify = False,
    ca_file: CaFile = None,
    timeout: Timeout = None,
    json_out: Json = False,
) -> None:
    """Check credentials against a registry and store them (Docker's config.json or credsStore)."""
    from ..registry.ops import login

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True)
    else:
        raise ConfigError("login needs a password",
                          hint=f"pipe it in: `wasmbuild login {registry} -u {username} --password-stdin`")
    opts = registry_options(plain_http, tls_verify, no_tls_verify, ca_file, timeout)
    host = registry.removeprefix("https://").rstrip("/")
    where = login(host, username, password, opts)
    if json_out:
        emit_json({"registry": host, "username": username, "stored_in": str(where)})
    else:
        print(f"Login succeeded (credentials stored in {where})")


@app.command("logout")
def logout_cmd(registry: Annotated[str, typer.Argument(help="Registry host[:port]")],
               json_out: Json = False) -> None:
    """Remove stored credentials for a registry."""
    from ..registry.auth import logout

    host = registry.removeprefix("https://").rstrip("/")
    removed = logout(host)
    if json_out:
        emit_json({"registry": host, "removed": removed})
    elif removed:
        print(f"Removed credentials for {registry}")
    else:
        print(f"Not logged in to {registry}")
