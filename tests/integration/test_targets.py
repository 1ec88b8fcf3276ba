"""Every target through real consumers: a registry and skopeo (digests), ``wasmbuild pull/run``
from an empty store, containerd (pull, content, unpack), podman and ``ctr run`` through crun's
Wasm handler, skopeo/buildah/podman reading each shape, Docker 20.10's refusals, and a
mixed-platform tag holding a linux/amd64 image next to the Wasm ones (docs/targets.md)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_example, require
from tests.integration.consumer_fixtures import (
    COMPAT,
    CTR_ENV,
    CTR_MOUNTS,
    HANDLER_WASM,
    PODMAN_ENV,
    PODMAN_MOUNTS,
    ULIMITS,
    Containerd,
    Podman,
    engine_command,
)
from tests.integration.docker_fixtures import DockerEngine
from tests.integration.registry_fixtures import RegistryServer
from tests.integration.test_consumers import as_seen_by, observed, sections
from wasmbuild.oci.preflight import ARTIFACT_CONFIG, ARTIFACT_IN_INDEX, CRI_UNPACK, KUBERNETES, NO_REFERRERS
from wasmbuild.oci.referrers import fallback_tag

pytestmark = pytest.mark.integration

ALL = ("compat", "docker", "runwasi", "artifact")
PROBE = REPO / "tests" / "fixtures" / "probe" / "Wasmfile"
HELLO = """wasmfile: 1
stages:
  hello:
    recipe: rust
    with: {source: examples/hello-rust/hello.rs, output: hello.wasm}
image:
  files: [{from: hello, path: hello.wasm, dest: /hello.wasm}]
  entrypoint: [hello.wasm]
  env: {GREETING: hello}
  targets: [compat, docker, runwasi, artifact]
  tags: [hello-targets:1]
"""
# containerd 1.6.20 (Debian 12) unpacks only layers whose count matches the config's diff_ids;
# 1.6.25/1.7.7 skip layers of other media types (containerd/containerd#9142).
MISMATCH = "ctr: mismatched image rootfs and manifest layers"


@dataclass(frozen=True)
class Built:
    root: Path
    wasmfile: Path
    layout: Path  # the index (or manifest) as an OCI layout, tag "1"
    digest: str
    targets: dict[str, str]  # target -> manifest digest

    def env(self, store: Path | None = None) -> dict[str, str]:
        env = {**os.environ, "WASMBUILD_STORE": str(store or self.root / "store"),
               "WASMBUILD_CACHE": str(self.root / "cache")}
        env.pop("SOURCE_DATE_EPOCH", None)
        return env

    def cli(self, *args: str, store: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wasmbuild", *args], cwd=self.wasmfile.parent,
                              env=self.env(store), capture_output=True, text=True, timeout=600,
                              check=False)

    def layout_of(self, target: str) -> Path:
        """``target`` alone as an OCI layout (a directory of its own: podman caches images by the
        name it derives from the path, so each target needs its own)."""
        out = self.root / f"Only-{target}"
        if not out.exists():
            proc = self.cli("build", str(self.wasmfile), "--format", target, "-o", f"oci:{out}:1")
            assert proc.returncode == 0, proc.stderr
        return out

    def push(self, image: str, ref: str) -> str:
        proc = self.cli("push", image, ref, "--plain-http", "--json")
        assert proc.returncode == 0, proc.stderr
        return str(json.loads(proc.stdout)["digest"])


def _build(wasmfile: Path, root: Path, *formats: str) -> Built:
    layout = root / "Index"
    built = Built(root, wasmfile, layout, "", {})
    args = [a for f in formats for a in ("--format", f)]
    proc = built.cli("build", str(wasmfile), *args, "-o", f"oci:{layout}:1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return Built(root, wasmfile, layout, result["digest"],
                 {t["target"]: t["digest"] for t in result["targets"]})


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The seed's hello.rs, one module, every target (from the Wasmfile's image.targets)."""
    root = tmp_path_factory.mktemp("hello-targets")
    wasmfile = copy_example(root / "src")
    wasmfile.write_text(HELLO)
    return _build(wasmfile, root)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Wasmfile.example (two modules: no artifact) in the targets crun and runwasi read."""
    root = tmp_path_factory.mktemp("example-targets")
    return _build(copy_example(root / "src"), root, "compat", "docker", "runwasi")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(PROBE, tmp_path_factory.mktemp("probe-targets"), *ALL)


def _skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([require("skopeo"), *args], capture_output=True, timeout=120, check=False)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- the registry round trip -----------------------------------------------------------------

def test_every_target_round_trips_through_a_registry(hello: Built, registry: RegistryServer,
                                                     tmp_path: Path) -> None:
    assert list(hello.targets) == list(ALL)
    ref = registry.ref("targets/hello", "1")
    assert hello.push(f"oci:{hello.layout}:1", ref) == hello.digest
    raw = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    assert raw.returncode == 0 and _sha(raw.stdout) == hello.digest
    assert [m["digest"] for m in json.loads(raw.stdout)["manifests"]] == list(hello.targets.values())
    name = ref.rsplit(":", 1)[0]
    for target, digest in hello.targets.items():
        entry = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{name}@{digest}")
        assert entry.returncode == 0 and _sha(entry.stdout) == digest, target
        store = tmp_path / f"store-{target}"  # an empty store per target
        pulled = hello.cli("pull", f"{name}@{digest}", "--plain-http", "--json", store=store)
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["digest"] == digest
        ran = hello.cli("run", f"{name}@{digest}", store=store)
        assert (ran.returncode, ran.stdout, ran.stderr) == (0, "Hello Wasm\n", ""), target
        plat = json.loads(raw.stdout)["manifests"][list(hello.targets).index(target)]["platform"]
        listed = hello.cli("images", store=store).stdout.split()
        assert listed[-1] == f"{plat['os']}/{plat['architecture']}", (target, listed)  # OS first
    # The tag names the index: pull and run pick its Wasm entry and say which.
    store = tmp_path / "store-index"
    pulled = hello.cli("pull", ref, "--plain-http", store=store)
    assert pulled.returncode == 0, pulled.stderr
    compat = hello.targets["compat"]
    assert pulled.stderr == (f"wasmbuild: pulling wasi/wasm32 entry {compat[:19]} (compat) "
                             f"of index {hello.digest[:19]}\n")
    local = hello.cli("run", f"oci:{hello.layout}:1")
    assert (local.returncode, local.stdout) == (0, "Hello Wasm\n")
    assert local.stderr == (f"wasmbuild: running wasi/wasm32 entry {compat[:19]} (compat) "
                            f"of index {hello.digest[:19]}\n")


def test_inspect_reads_every_target(hello: Built, registry: RegistryServer) -> None:
    ref = registry.ref("targets/inspect", "1")
    hello.push(f"oci:{hello.layout}:1", ref)
    for where in (f"oci:{hello.layout}:1", ref):
        info = json.loads(hello.cli("inspect", where, "--plain-http", "--json").stdout)
        assert (info["indexDigest"], info["target"]) == (hello.digest, "compat")
        assert [m["digest"] for m in info["manifests"]] == list(hello.targets.values())
    name = ref.rsplit(":", 1)[0]
    for target, digest in hello.targets.items():
        info = json.loads(hello.cli("inspect", f"{name}@{digest}", "--plain-http", "--json").stdout)
        assert (info["digest"], info["target"]) == (digest, target)
        assert info["created"] == "1970-01-01T00:00:00Z"


# -- containerd ------------------------------------------------------------------------------

def test_containerd_pulls_every_target_and_reports_it_complete(
        hello: Built, registry: RegistryServer, containerd: Containerd) -> None:
    for target, digest in hello.targets.items():
        ref = registry.ref("targets/ctr", target)
        hello.push(f"oci:{hello.layout}:{digest}", ref)
        pulled = containerd.ctr_pull(ref)
        row = containerd.ctr_check(ref)
        assert row["digest"] == digest and containerd.ctr_missing(digest) == []
        # config + one layer each (hello's runwasi image has no file but the module)
        assert row["status"] == "complete (2/2)", (target, row)
        if target in ("compat", "docker"):
            assert (pulled.returncode, row["unpacked"]) == (0, "true"), pulled.stderr
        else:  # fetched complete; the unpack is what containerd 1.6.20 refuses
            assert pulled.returncode == 1 and pulled.stderr.strip().endswith(MISMATCH), pulled.stderr
            assert row["unpacked"] == "false"
    # The index: everything fetched; no entry for the host, so no unpack (Kubernetes' trap).
    ref = registry.ref("targets/ctr", "index")
    hello.push(f"oci:{hello.layout}:1", ref)
    pulled = containerd.ctr_pull(ref)
    assert pulled.returncode == 1
    assert f"ctr: no match for platform in manifest {hello.digest}: not found" in pulled.stderr
    assert containerd.ctr_missing(hello.digest) == []
    by_platform = containerd.ctr_pull(ref, platform="wasi/wasm")
    assert by_platform.returncode == 0, by_platform.stderr


# -- podman and ctr through crun ---------------------------------------------------------------

def test_podman_and_ctr_run_the_example_in_every_target_crun_runs(
        example: Built, podman: Podman, containerd: Containerd, registry: RegistryServer) -> None:
    ours = example.cli("run", f"oci:{example.layout_of('compat')}:1")
    assert (ours.returncode, ours.stdout) == (0, "Hello Wasm\n"), ours.stderr
    handler = {"compat": (), "docker": (HANDLER_WASM,)}  # podman 4.3 copies the compat annotation
    for target, platform in (("compat", "wasi/wasm32"), ("docker", "wasi/wasm")):
        theirs = podman.run_layout(example.layout_of(target), platform=platform,
                                   annotations=handler[target])
        assert (theirs.returncode, theirs.stdout) == (0, ours.stdout), (target, theirs.stderr)
        ref = registry.ref("targets/example", target)
        example.push(f"oci:{example.layout}:{example.targets[target]}", ref)
        assert containerd.ctr_pull(ref).returncode == 0
        ran = containerd.ctr_run(ref, annotation=COMPAT if target == "compat" else HANDLER_WASM)
        assert (ran.returncode, ran.stdout) == (0, ours.stdout), (target, ran.stderr)
    # runwasi's Wasm layer is not a tar: podman (containers/storage) cannot apply it, and
    # containerd 1.6.20 will not unpack it (its shim, runwasi, reads it from the content store).
    runwasi = podman.run_layout(example.layout_of("runwasi"), platform="wasip1/wasm")
    wasm_layer = next(layer for layer in _manifest(example, "runwasi")["layers"]  # type: ignore[attr-defined]
                      if "wasm" in layer["mediaType"])["digest"]
    assert runwasi.returncode == 125
    assert f'adding layer with blob "{wasm_layer}"' in runwasi.stderr
    assert "processing tar file(" in runwasi.stderr  # the rest depends on the module's bytes
    ref = registry.ref("targets/example", "runwasi")
    example.push(f"oci:{example.layout}:{example.targets['runwasi']}", ref)
    assert containerd.ctr_pull(ref).stderr.strip().endswith(MISMATCH)
    ran = containerd.ctr_run(ref)
    assert (ran.returncode, ran.stderr.strip()) == (1, MISMATCH)


def _manifest(built: Built, target: str) -> dict[str, object]:
    digest = built.targets[target]
    return dict(json.loads((built.layout / "blobs" / "sha256" / digest[7:]).read_bytes()))


def test_exit_code_3_through_podman_and_ctr(probe: Built, podman: Podman, containerd: Containerd,
                                            registry: RegistryServer) -> None:
    ours = probe.cli("run", f"oci:{probe.layout_of('compat')}:1", "3")
    assert ours.returncode == 3
    for target, platform, extra in (("compat", "wasi/wasm32", ()), ("docker", "wasi/wasm", (HANDLER_WASM,))):
        layout = probe.layout_of(target)
        assert probe.cli("run", f"oci:{layout}:1", "3").stdout == ours.stdout
        theirs = podman.run_layout(layout, ["3"], platform=platform, annotations=extra)
        assert theirs.returncode == 3, theirs.stderr
        assert observed(theirs.stdout) == as_seen_by(PODMAN_ENV, PODMAN_MOUNTS, ours.stdout)
        ref = registry.ref("targets/probe", target)
        probe.push(f"oci:{layout}:1", ref)
        assert containerd.ctr_pull(ref).returncode == 0
        ran = containerd.ctr_run(ref, ["probe.wasm", "3"], annotation=COMPAT if not extra else extra[0])
        assert ran.returncode == 3, ran.stderr
        assert observed(ran.stdout) == as_seen_by(CTR_ENV, CTR_MOUNTS, ours.stdout)


def test_what_the_module_sees_in_each_target_under_wasmbuild_run(probe: Built) -> None:
    """The image targets carry the files and env; the artifact carries the module alone."""
    seen = {}
    for target, digest in probe.targets.items():
        ran = probe.cli("run", f"oci:{probe.layout}:{digest}", "3")
        assert ran.returncode == 3, (target, ran.stderr)
        seen[target] = sections(ran.stdout)
    image = {"arg": ["probe.wasm", "3"], "env": ["GREETING=hello"], "preopen": ["/"], "ls": ["/probe.wasm"]}
    assert seen["compat"] == seen["docker"] == image
    # runwasi: the module comes from its own layer, the tar layer holds the other files (none).
    assert seen["runwasi"] == {**image, "ls": []}
    # No preopen at all: opendir("/") fails.
    assert seen["artifact"] == {"arg": ["probe.wasm", "3"], "env": [], "preopen": [], "ls": ["/ failed"]}


# -- skopeo, buildah, podman read every target ---------------------------------------------------

def test_skopeo_buildah_and_podman_read_every_target(hello: Built, registry: RegistryServer,
                                                     podman: Podman, tmp_path: Path) -> None:
    buildah = [require("buildah"), "--root", str(tmp_path / "bh"), "--runroot", str(tmp_path / "bhr"),
               "--storage-driver", "vfs"]
    for target, digest in hello.targets.items():
        ref = registry.ref("targets/read", target)
        hello.push(f"oci:{hello.layout}:{digest}", ref)
        copied = tmp_path / f"copy-{target}"
        copy = _skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{copied}:1")
        assert copy.returncode == 0, copy.stderr
        index = json.loads((copied / "index.json").read_text())
        assert index["manifests"][0]["digest"] == digest  # byte for byte
        inspected = _skopeo("inspect", "--tls-verify=false", f"docker://{ref}")
        pulled = subprocess.run([*buildah, "pull", "-q", "--tls-verify=false", ref],
                                capture_output=True, text=True, timeout=300, check=False)
        by_podman = subprocess.run(engine_command(podman.command(
            "pull", "-q", "--tls-verify=false", "--platform", "wasi/wasm", ref)),
            capture_output=True, text=True, timeout=300, check=False)
        if target in ("compat", "docker"):
            assert inspected.returncode == 0, inspected.stderr
            assert json.loads(inspected.stdout)["Digest"] == digest
            assert pulled.returncode == 0, pulled.stderr
            assert by_podman.returncode == 0, by_podman.stderr
            continue
        blob = _manifest(hello, target)["layers"][-1]["digest"]  # type: ignore[index]
        if target == "runwasi":
            assert json.loads(inspected.stdout)["Architecture"] == "wasm"
            # containers/storage untars every layer; what it then says depends on the module's
            # bytes ("unexpected EOF", "archive/tar: invalid tar header").
            for proc, code in ((pulled, 1), (by_podman, 125)):
                assert proc.returncode == code, proc.stderr
                assert f'Error: writing blob: adding layer with blob "{blob}"' in proc.stderr
        else:
            refusal = ('unsupported image-specific operation on artifact with type '
                       '"application/vnd.wasm.config.v0+json"')
            # skopeo logs it with logrus, which escapes the quotes
            assert refusal.replace('"', '\\"') in inspected.stderr.decode(), inspected.stderr
            for proc in (pulled, by_podman):
                assert proc.returncode == 125, proc.stderr
                assert f"Error: parsing image configuration: {refusal}" in proc.stderr
    # The whole index, every entry: skopeo keeps its digest.
    ref = registry.ref("targets/read", "index")
    hello.push(f"oci:{hello.layout}:1", ref)
    copy = _skopeo("copy", "-q", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'all'}:1")
    assert copy.returncode == 0, copy.stderr
    assert json.loads((tmp_path / "all" / "index.json").read_text())["manifests"][0]["digest"] == hello.digest


def test_docker_20_10_refuses_every_target(hello: Built, registry: RegistryServer,
                                          publish_dockerd: DockerEngine) -> None:
    """Debian 12's Docker predates Wasm: it refuses os wasi and the Wasm media types."""
    assert publish_dockerd.version.startswith("20.10"), publish_dockerd.version
    refusals = {"compat": "operating system is not supported",
                "docker": "operating system is not supported",
                "runwasi": "unsupported media type application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
                "artifact": "unsupported media type application/vnd.wasm.config.v0+json"}
    for target, digest in hello.targets.items():
        ref = registry.ref("targets/docker", target)
        hello.push(f"oci:{hello.layout}:{digest}", ref)
        pulled = publish_dockerd.run("pull", ref, check=False)
        assert pulled.returncode == 1 and pulled.stderr.strip().endswith(refusals[target]), pulled.stderr
    ref = registry.ref("targets/docker", "index")
    hello.push(f"oci:{hello.layout}:1", ref)
    pulled = publish_dockerd.run("pull", ref, check=False)
    assert "no matching manifest for linux/amd64 in the manifest list entries" in pulled.stderr


# -- a mixed-platform tag ----------------------------------------------------------------------

TINY_LINUX = r"""
static const char msg[] = "Hello Linux\n";
void _start(void) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1)
                     : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(60L), "D"(0L) : "rcx", "r11", "memory");
    for (;;) {}
}
"""


def linux_image(root: Path) -> tuple[Path, str, str]:
    """A FROM-scratch linux/amd64 image of a static binary printing "Hello Linux", as an OCI
    layout (tag 1) written with the standard library. Returns (layout, manifest, config digest)."""
    import gzip
    import io
    import tarfile

    gcc = require("gcc")
    (root / "tiny.c").write_text(TINY_LINUX)
    subprocess.run([gcc, "-static", "-nostdlib", "-Os", "-s", "-o", str(root / "hello"), str(root / "tiny.c")],
                   check=True, capture_output=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = (root / "hello").read_bytes()
        info = tarfile.TarInfo("hello")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(buf.getvalue(), mtime=0)
    layout = root / "linux"
    (layout / "blobs" / "sha256").mkdir(parents=True)

    def blob(data: bytes) -> dict[str, object]:
        (layout / "blobs" / "sha256" / _sha(data)[7:]).write_bytes(data)
        return {"digest": _sha(data), "size": len(data)}

    config = {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/hello"]},
              "rootfs": {"type": "layers", "diff_ids": [_sha(buf.getvalue())]}}
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg,
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(layer)}]}
    top = {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode()),
           "annotations": {"org.opencontainers.image.ref.name": "1"}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return layout, str(top["digest"]), str(cfg["digest"])


def test_a_mixed_tag_gives_each_platform_its_image(
        hello: Built, registry: RegistryServer, podman: Podman, containerd: Containerd,
        tmp_path: Path) -> None:
    linux, linux_digest, linux_config = linux_image(tmp_path)
    ref = registry.ref("targets/mixed", "1")
    built = hello.cli("build", str(hello.wasmfile), "--format", "compat", "--format", "docker",
                      "--include", f"oci:{linux}:1", "-o", f"docker://{ref}", "--plain-http", "--json")
    assert built.returncode == 0, built.stderr
    assert "no match for platform" not in built.stderr  # a mixed tag: no Kubernetes warning
    result = json.loads(built.stdout)
    raw = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    index = json.loads(raw.stdout)
    assert _sha(raw.stdout) == result["digest"]
    assert [(m["digest"], m["platform"]) for m in index["manifests"]] == [
        (hello.targets["compat"], {"architecture": "wasm32", "os": "wasi"}),
        (hello.targets["docker"], {"architecture": "wasm", "os": "wasi"}),
        (linux_digest, {"architecture": "amd64", "os": "linux"})]

    def pull(platform: str) -> tuple[str, str]:
        proc = subprocess.run(engine_command(podman.command(
            "pull", "-q", "--tls-verify=false", "--platform", platform, ref)),
            capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        inspect = subprocess.run(engine_command(podman.command(
            "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", proc.stdout.strip())),
            capture_output=True, text=True, timeout=60, check=True)
        return inspect.stdout.strip(), proc.stdout.strip()

    configs = {t: json.loads((hello.layout / "blobs" / "sha256" / d[7:]).read_text())["config"]["digest"]
               for t, d in hello.targets.items()}
    assert pull("linux/amd64") == ("linux/amd64", linux_config[7:])
    assert pull("wasi/wasm") == ("wasi/wasm", configs["docker"][7:])
    assert pull("wasi/wasm32") == ("wasi/wasm32", configs["compat"][7:])
    ran = subprocess.run(engine_command(podman.command(
        "run", "--rm", "--pull", "always", "--tls-verify=false", "--network", "none", *ULIMITS,
        "--platform", "linux/amd64", ref)), capture_output=True, text=True, timeout=300, check=False)
    assert (ran.returncode, ran.stdout) == (0, "Hello Linux\n"), ran.stderr
    # containerd resolves the host platform, as a Kubernetes node does: the Linux entry.
    pulled = containerd.ctr_pull(ref)
    assert pulled.returncode == 0, pulled.stderr
    assert f"unpacking linux/amd64 {result['digest']}" in pulled.stdout
    assert containerd.ctr_check(ref)["unpacked"] == "true"


def test_pre_flight_before_a_push(hello: Built, registry: RegistryServer) -> None:
    pushed = hello.cli("push", f"oci:{hello.layout}:1", registry.ref("targets/pre", "1"), "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    warnings = [line for line in pushed.stderr.splitlines() if line.startswith("warning: ")]
    # docker-registry has no referrers API: the push says so after the index's own traps.
    no_api = NO_REFERRERS.format(registry=registry.host, tag="sha256-<hex> of each of its 4 image manifests")
    assert warnings == [f"warning: {m}" for m in (KUBERNETES, CRI_UNPACK, ARTIFACT_CONFIG, ARTIFACT_IN_INDEX, no_api)]
    single = hello.cli("push", f"oci:{hello.layout}:{hello.targets['runwasi']}",
                       registry.ref("targets/pre", "runwasi"), "--plain-http")
    assert single.returncode == 0, single.stderr
    no_api = NO_REFERRERS.format(registry=registry.host, tag=fallback_tag(hello.targets["runwasi"]))
    assert [line for line in single.stderr.splitlines() if "warning" in line] == [f"warning: {no_api}"]



def test_include_by_registry_digest(hello: Built, registry: RegistryServer, tmp_path: Path) -> None:
    linux, linux_digest, _ = linux_image(tmp_path)
    ref = registry.ref("targets/linux", "1")
    copy = _skopeo("copy", "-q", "--dest-tls-verify=false", f"oci:{linux}:1", f"docker://{ref}")
    assert copy.returncode == 0, copy.stderr
    pinned = f"{ref.rsplit(':', 1)[0]}@{linux_digest}"
    out = tmp_path / "mixed"
    built = hello.cli("build", str(hello.wasmfile), "--format", "docker", "--include", pinned,
                      "-o", f"oci:{out}:1", "--plain-http", "--json")
    assert built.returncode == 0, built.stderr
    assert [t["digest"] for t in json.loads(built.stdout)["targets"]] == [hello.targets["docker"], linux_digest]
    ran = hello.cli("run", f"oci:{out}:1")
    assert (ran.returncode, ran.stdout) == (0, "Hello Wasm\n")
    assert ran.stderr.startswith("wasmbuild: running wasi/wasm entry ")
    absent = f"{ref.rsplit(':', 1)[0]}@sha256:{'0' * 64}"
    bad = hello.cli("build", str(hello.wasmfile), "--include", absent, "--plain-http")
    assert bad.returncode == 6
    assert bad.stderr.splitlines()[-1] == (
        f"error: --include: include '{absent}': pull {absent}: not found on {registry.host} "
        "(MANIFEST_UNKNOWN: manifest unknown)")
