"""Push a ~100 MB image to a local registry with wasmbuild and with skopeo; print a markdown table.

    python benchmarks/push_bench.py [--size-mb 100] [--layers 2] [--rounds 3]

Both tools push the same OCI layout (random, incompressible gzip layers) to fresh repositories
of a local ``docker-registry`` over plain HTTP; wasmbuild runs as its CLI (``push``), skopeo as
``skopeo copy oci:DIR:TAG docker://...``. Reported: median wall time, the ratio (goal: wasmbuild
<= skopeo), peak RSS (wasmbuild streams blobs, so it stays far below the image size), and what a
re-push of the same image uploads (goal: 0 blobs, 0 bytes), counted from the registry's access log.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.images import hello_files, make_image, random_gzip_layer  # noqa: E402
from tests.integration.registry_fixtures import (  # noqa: E402
    RegistryServer,
    start_registry,
    stop_registry,
)
from wasmbuild.oci.layout import Layout  # noqa: E402
from wasmbuild.registry.ops import RegistryOptions  # noqa: E402
from wasmbuild.registry.ops import push as library_push  # noqa: E402
from wasmbuild.store import normalize_tag  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``cmd``; return (wall seconds, stdout). Fails loudly."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, proc.stdout


def peak_rss(cmd: list[str], env: dict[str, str]) -> int:
    """Peak RSS (KiB) of one run of ``cmd``, via GNU time."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    proc = subprocess.run(
        [gnu_time, "-f", "%M", *cmd], env=env, capture_output=True, text=True, check=True
    )
    return int(proc.stderr.strip().splitlines()[-1])


def uploads(server: RegistryServer, since: int) -> tuple[int, int]:
    """(blob uploads, bytes) since access-log entry ``since``."""
    digests = server.blob_uploads(since)
    size = 0
    for d in digests:
        blob = server.root / "data" / "docker/registry/v2/blobs/sha256" / d[7:9] / d[7:] / "data"
        size += blob.stat().st_size if blob.exists() else 0
    return len(digests), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    skopeo = shutil.which("skopeo")
    if not skopeo:
        raise SystemExit("skopeo is not installed (apt-get install skopeo)")

    work = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    try:
        store = Layout(work / "store").init()
        per_layer = args.size_mb * (1 << 20) // args.layers
        raw = [random_gzip_layer(per_layer) for _ in range(args.layers)]
        desc = make_image(store, [hello_files()], raw_layers=raw, tag=normalize_tag("bench:1"))
        store.tag("bench", desc)  # skopeo's oci:DIR:bench
        image_bytes = sum(len(r) for r in raw)
        env = {**os.environ, "WASMBUILD_STORE": str(store.path), "PYTHONPATH": str(ROOT)}
        # The real CLI once the core is merged; until then the stand-in with the same commands.
        has_main = importlib.util.find_spec("wasmbuild.__main__") is not None
        wb_cli = [sys.executable, "-m", "wasmbuild" if has_main else "tests.integration.cli_app"]

        wb_times: list[float] = []
        sk_times: list[float] = []
        lib_times: list[float] = []
        skopeo_copy = [skopeo, "copy", "-q", "--dest-tls-verify=false", f"oci:{store.path}:bench"]
        # A fresh registry (new port) per round: skopeo remembers where it has seen blobs
        # (blob-info cache) and would mount them across repositories instead of uploading.
        for i in range(args.rounds):
            server = start_registry(work / f"registry-{i}")
            try:
                order = ["wb", "sk"] if i % 2 == 0 else ["sk", "wb"]
                for tool in order:
                    if tool == "wb":
                        ref = f"{server.host}/wb:1"
                        cmd = [*wb_cli, "push", "bench:1", ref, "--plain-http", "--json"]
                        wall, out = timed(cmd, env)
                        assert json.loads(out)["digest"] == desc.digest
                        wb_times.append(wall)
                    else:
                        sk_times.append(
                            timed([*skopeo_copy, f"docker://{server.host}/sk:1"], env)[0]
                        )
            finally:
                stop_registry(server)
            # The same push as a library call: the transfer without interpreter/CLI start-up.
            server = start_registry(work / f"registry-lib-{i}")
            try:
                start = time.perf_counter()
                library_push(store, desc, f"{server.host}/lib:1", RegistryOptions(plain_http=True))
                lib_times.append(time.perf_counter() - start)
            finally:
                stop_registry(server)

        server = start_registry(work / "registry-repush")
        try:
            ref = f"{server.host}/wb:1"
            push = [*wb_cli, "push", "bench:1", ref, "--plain-http", "--json"]
            rss_wb = peak_rss(push, env)  # first push, into an empty registry
            mark = server.mark()
            repush_wall, out = timed(push, env)
            repush_wb = uploads(server, mark)
            stats = json.loads(out)
            sk_dest = f"docker://{server.host}/sk:1"
            rss_sk = peak_rss([*skopeo_copy, sk_dest], env)
            mark = server.mark()
            sk_repush_wall = timed([*skopeo_copy, sk_dest], env)[0]
            repush_sk = uploads(server, mark)
        finally:
            stop_registry(server)

        wb, sk = statistics.median(wb_times), statistics.median(sk_times)
        lib = statistics.median(lib_times)
        mb = image_bytes / (1 << 20)
        print(
            f"Image: {args.layers} random gzip layer(s), {mb:.1f} MiB, digest {desc.digest[:19]}…;"
            f" {args.rounds} rounds, medians; local docker-registry, HTTP; CLI: -m {wb_cli[-1]}.\n"
        )
        print(
            "| tool | push (s) | MiB/s | peak RSS (MiB) | re-push (s) "
            "| re-push blob uploads | re-push bytes |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| wasmbuild push | {wb:.2f} | {mb / wb:.0f} | {rss_wb / 1024:.0f} "
            f"| {repush_wall:.2f} | {repush_wb[0]} (client: {stats['uploaded_blobs']}) "
            f"| {repush_wb[1]} |"
        )
        print(f"| wasmbuild library `push()` | {lib:.2f} | {mb / lib:.0f} | - | - | - | - |")
        print(
            f"| skopeo copy | {sk:.2f} | {mb / sk:.0f} | {rss_sk / 1024:.0f} "
            f"| {sk_repush_wall:.2f} | {repush_sk[0]} | {repush_sk[1]} |"
        )
        verdict = "meets" if wb <= sk else "misses"
        print(
            f"\nratio wasmbuild/skopeo = {wb / sk:.2f} ({verdict} the goal <= 1.00); "
            f"runs: wasmbuild {[round(t, 2) for t in wb_times]}, "
            f"skopeo {[round(t, 2) for t in sk_times]}, library {[round(t, 2) for t in lib_times]}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
