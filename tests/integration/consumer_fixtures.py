"""Pytest fixtures: real engines consuming wasmbuild's images through crun's Wasm handler.

``crun_wasm`` builds (or finds cached) crun with its wasmtime handler (scripts/build-crun-wasm).
``podman`` runs an OCI layout with ``podman --runtime <that crun>`` in its own storage;
``containerd`` starts Debian's containerd on its own socket, root and state dirs for the session
and drives it with ``ctr``. Both work around this machine's quirks (see docs/consumers-crun.md):

- crun refuses hybrid cgroups ("cgroups in hybrid mode not supported, drop all controllers from
  cgroupv2"): the engines run in a private mount namespace, with the cgroup v2 mount unmounted;
- root lacks CAP_SYS_RESOURCE, so podman's default rlimits (the host's) cannot be set: fixed ulimits;
- podman names an ``oci:`` image after its path and rejects upper case: a lower-case symlink;
- ``ctr run`` does not copy image annotations: ``--annotation module.wasm.image/variant=compat``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import missing, require

ROOT = Path(__file__).resolve().parents[2]
BUILD_CRUN = ROOT / "scripts" / "build-crun-wasm"
COMPAT = "module.wasm.image/variant=compat"
HANDLER_WASM = "run.oci.handler=wasm"  # crun's other switch; what a Docker-style image needs
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# What podman itself adds to a module's environment (HOSTNAME is pinned by PODMAN_HOSTNAME; HOME=/
# comes from crun, which sets it when the spec has none and the image has no /etc/passwd).
PODMAN_HOSTNAME = "wasm-consumer"
PODMAN_ENV = {
    "container": "podman",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM": "xterm",
    "HOSTNAME": PODMAN_HOSTNAME,
    "HOME": "/",
}
CTR_ENV = {"HOME": "/"}
# The engines' mounts in the root that crun preopens for the module (wasmbuild run shows none).
PODMAN_MOUNTS = ["dev", "etc", "proc", "run", "sys"]
CTR_MOUNTS = ["dev", "proc", "run", "sys"]


def cgroup_hybrid() -> bool:
    """True when cgroup v1 controllers and a cgroup v2 mount at /sys/fs/cgroup/unified coexist."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ")
        mount_point = fields[0].split()[4]
        if mount_point == "/sys/fs/cgroup/unified" and fields[1].split()[0] == "cgroup2":
            return True
    return False


def engine_command(cmd: Sequence[str]) -> list[str]:
    """``cmd`` in a private mount namespace: the engine's own mounts (podman's overlay driver
    bind-mounts its storage; snapshots, container roots) stay out of the host's mount table and
    vanish with it. On a hybrid host the cgroup v2 mount is dropped there, so crun accepts it."""
    script = 'umount /sys/fs/cgroup/unified && exec "$@"' if cgroup_hybrid() else 'exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]


@pytest.fixture(scope="session")
def crun_wasm() -> Path:
    """crun with the wasmtime handler, built once per machine (cached by scripts/build-crun-wasm)."""
    if os.geteuid() != 0:
        missing("crun's Wasm handler tests need root (private mount namespaces, containerd)")
    for tool in ("gcc", "make", "dpkg-source", "unshare"):
        require(tool)
    proc = subprocess.run([str(BUILD_CRUN)], capture_output=True, text=True, timeout=1200, check=False)
    if proc.returncode != 0:
        missing(f"scripts/build-crun-wasm failed: {proc.stderr.strip()[-1500:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass
class Podman:
    """podman with its own storage (root, runroot, tmpdir), running images through ``crun``."""

    binary: str
    crun: Path
    base: Path

    def command(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.base / "root"), "--runroot", str(self.base / "runroot"),
                "--tmpdir", str(self.base / "tmp"), "--runtime", str(self.crun),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]

    def layout_ref(self, oci_dir: Path) -> str:
        """``oci:PATH`` through a symlink with a valid image name: podman names the image after the
        path and rejects upper case ("repository name must be lowercase") and odd separators."""
        oci_dir = oci_dir.resolve()
        digest = hashlib.sha256(str(oci_dir).encode()).hexdigest()[:12]
        name = re.sub(r"[^a-z0-9]+", "-", oci_dir.name.lower()).strip("-") or "image"
        link = self.base / "layouts" / f"{name}-{digest}"
        link.parent.mkdir(exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(oci_dir)
        return f"oci:{link}"  # no tag: a wasmbuild layout's index.json has one entry

    def run_layout(self, oci_dir: Path, args: Sequence[str] = (), *, env: dict[str, str] | None = None,
                   entrypoint: str | None = None, platform: str = "wasi/wasm32",
                   annotations: Sequence[str] = (), timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``podman run --rm`` the image in ``oci_dir``; no network. Podman 4.3 copies the image's
        annotations (module.wasm.image/variant) to crun; ``annotations`` (KEY=VALUE) add more."""
        opts = ["run", "--rm", "--quiet", "--network", "none", "--platform", platform,
                "--hostname", PODMAN_HOSTNAME, *ULIMITS]
        for annotation in annotations:
            opts += ["--annotation", annotation]
        for key, value in (env or {}).items():
            opts += ["--env", f"{key}={value}"]
        if entrypoint is not None:
            opts += ["--entrypoint", entrypoint]
        cmd = engine_command(self.command(*opts, self.layout_ref(oci_dir), *args))
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def podman(crun_wasm: Path) -> Iterator[Podman]:
    # Part of the image names podman derives (see layout_ref): lower-case hex, no mkdtemp "_".
    base = Path("/tmp") / f"wb-podman-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    base.mkdir()
    engine = Podman(require("podman"), crun_wasm, base)
    yield engine
    subprocess.run(engine_command(engine.command("system", "reset", "--force")),
                   capture_output=True, timeout=300, check=False)
    shutil.rmtree(engine.base, ignore_errors=True)


@pytest.fixture
def podman_run_layout(podman: Podman) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``podman_run_layout(oci_dir, args=(), env=None, entrypoint=None) -> CompletedProcess``."""
    return podman.run_layout


@dataclass
class Containerd:
    """A containerd of the session's own (socket under a short /tmp path), used through ``ctr``."""

    address: str
    base: Path
    crun: Path
    proc: subprocess.Popen[bytes]

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", self.address, *args], capture_output=True,
                              text=True, timeout=timeout, check=False)

    def ctr_pull(self, ref: str, plain_http: bool = True,
                 platform: str | None = None) -> subprocess.CompletedProcess[str]:
        """``ctr images pull``: fetches, then unpacks for ``platform`` (default: the host's; an
        index without a host entry fails "no match for platform in manifest")."""
        opts = (["--plain-http"] if plain_http else []) + (["--platform", platform] if platform else [])
        return self.ctr("images", "pull", *opts, ref)

    def ctr_missing(self, digest: str) -> list[str]:
        """Blobs reachable from ``digest`` (index -> manifests -> config, layers) that containerd's
        content store lacks. Unlike ``ctr images check`` (host platform only, no --platform in
        containerd 1.6), this covers an index of ``wasi/*`` entries too."""
        listing = self.ctr("content", "ls", "-q")
        assert listing.returncode == 0, listing.stderr
        have = set(listing.stdout.split())
        missing: list[str] = []
        todo = [(digest, True)]
        while todo:
            blob, is_json = todo.pop()
            if blob not in have:
                missing.append(blob)
                continue
            if not is_json:
                continue
            doc = json.loads(self.ctr("content", "get", blob).stdout)
            todo += [(m["digest"], True) for m in doc.get("manifests", [])]
            todo += [(d["digest"], False) for d in [doc.get("config"), *doc.get("layers", [])] if d]
        return missing

    def ctr_check(self, ref: str) -> dict[str, str]:
        """The row of ``ctr images check`` for ``ref``: type, digest, status, size, unpacked."""
        # Filtered: an unrelated image that cannot be checked makes the whole command fail.
        out = self.ctr("images", "check", f"name=={ref}")
        assert out.returncode == 0, out.stderr
        for line in out.stdout.splitlines()[1:]:
            name, _, rest = line.strip().partition(" ")
            if name == ref:
                m = re.match(r"(\S+)\s+(\S+)\s+(\S+ \(\d+/\d+\))\s+(.+?)\s+(true|false)$", rest.strip())
                assert m, f"unexpected ctr images check row: {line!r}"
                keys = ("type", "digest", "status", "size", "unpacked")
                return dict(zip(keys, m.groups(), strict=True))
        raise AssertionError(f"{ref} not in ctr images check:\n{out.stdout}")

    def ctr_run(self, ref: str, args: Sequence[str] = (), *, env: dict[str, str] | None = None,
                annotation: str | None = COMPAT, platform: str | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``ctr run --rm`` ``ref`` with crun as the runtime binary; ``args`` replace the whole
        process argv (entrypoint + cmd), as ctr does. ctr copies no image annotation, so the one
        that selects crun's Wasm handler is passed (``None``: none)."""
        opts = ["run", "--rm", "--runc-binary", str(self.crun)]
        if platform:
            opts += ["--platform", platform]
        if annotation:
            opts += ["--annotation", annotation]
        for key, value in (env or {}).items():
            opts += ["--env", f"{key}={value}"]
        return self.ctr(*opts, ref, f"wb-{uuid.uuid4().hex[:12]}", *args, timeout=timeout)


def _config(base: Path, address: str) -> str:
    return "\n".join([
        "version = 2",
        f'root = "{base / "root"}"',
        f'state = "{base / "state"}"',
        # No CRI: it would set up CNI and stream servers that ctr does not need.
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]", f'  address = "{address}"',
        "[ttrpc]", f'  address = "{address}.ttrpc"',
        '[plugins."io.containerd.internal.v1.opt"]', f'  path = "{base / "opt"}"',
        "",
    ])


@pytest.fixture(scope="session")
def containerd(crun_wasm: Path) -> Iterator[Containerd]:
    binary = require("containerd")
    require("ctr")
    require("containerd-shim-runc-v2")
    # A unix socket path must fit in 108 bytes: keep it short, not under pytest's tmp dirs.
    base = Path(tempfile.mkdtemp(prefix="wbc-", dir="/tmp"))
    address = str(base / "c.sock")
    (base / "config.toml").write_text(_config(base, address))
    log = open(base / "containerd.log", "wb")  # noqa: SIM115 (open for the daemon's lifetime)
    proc = subprocess.Popen(engine_command([binary, "--config", str(base / "config.toml")]),
                            stdout=log, stderr=subprocess.STDOUT)
    engine = Containerd(address, base, crun_wasm, proc)
    try:
        deadline = time.monotonic() + 30
        while engine.ctr("version", timeout=10).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start: "
                                   + (base / "containerd.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield engine
    finally:
        # Tasks left by a failed test would keep their shims alive after containerd stops.
        tasks = engine.ctr("tasks", "ls", "-q", timeout=30).stdout.split() if proc.poll() is None else []
        for task in tasks:
            engine.ctr("tasks", "kill", "-s", "SIGKILL", task, timeout=30)
            engine.ctr("tasks", "delete", "-f", task, timeout=30)
            engine.ctr("containers", "delete", task, timeout=30)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
