"""Supply chain end to end (issue 11): the SBOM and provenance of Wasmfile.example, built with the
real toolchains, attached as OCI 1.1 referrers and found again -- in the store, in an ``oci:DIR``
output, on Debian's docker-registry (no referrers API: the fallback tag) and on a registry that
answers the referrers API -- by ``wasmbuild inspect``, by a plain HTTP client following the
distribution spec, and by skopeo; and the image still pulls by platform with skopeo and containerd.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Runner, copy_example
from tests.integration.consumer_fixtures import Containerd
from tests.integration.registry_fixtures import RegistryServer
from tests.support import require, validate_spdx
from wasmbuild.oci.layout import Layout
from wasmbuild.oci.preflight import NO_REFERRERS
from wasmbuild.oci.referrers import fallback_tag, referrers

pytestmark = pytest.mark.integration

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SPDX = "application/spdx+json"
INTOTO = "application/vnd.in-toto+json"


# -- a plain HTTP client, following the distribution spec ------------------------------------
def request(method: str, url: str, accept: str = MANIFEST) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers.items()), exc.read()


def spec_referrers(host: str, repo: str, digest: str) -> tuple[str, list[dict[str, Any]]]:
    """What a client of the distribution spec does ("Listing Referrers"): the API first; on 404,
    the index under the fallback tag ``<alg>-<hex>`` (404 there: no referrers)."""
    status, headers, body = request("GET", f"http://{host}/v2/{repo}/referrers/{digest}", INDEX)
    if status == 200:
        assert headers["Content-Type"].startswith(INDEX)
        return "api", json.loads(body)["manifests"]
    assert status == 404, (status, body[:200])
    status, _, body = request("GET", f"http://{host}/v2/{repo}/manifests/{digest.replace(':', '-')}", INDEX)
    return "tag", (json.loads(body)["manifests"] if status == 200 else [])


def spec_document(host: str, repo: str, subject: str, desc: dict[str, Any]) -> dict[str, Any]:
    """GET a referrer's manifest and its one layer; check digests, the subject and the type."""
    status, _, raw = request("GET", f"http://{host}/v2/{repo}/manifests/{desc['digest']}")
    assert status == 200 and "sha256:" + hashlib.sha256(raw).hexdigest() == desc["digest"]
    manifest = json.loads(raw)
    assert manifest["subject"]["digest"] == subject
    assert manifest["artifactType"] == desc["artifactType"]
    [layer] = manifest["layers"]
    status, _, blob = request("GET", f"http://{host}/v2/{repo}/blobs/{layer['digest']}", "*/*")
    assert status == 200 and "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
    doc: dict[str, Any] = json.loads(blob)
    return doc


# -- a registry that answers the referrers API (no such registry is packaged here) ------------
class ReferrersAPI:
    """A front for docker-registry implementing the distribution spec's referrers API: it records
    each pushed manifest that has a ``subject`` (answering with ``OCI-Subject``, as the spec asks of
    a registry that processed it) and answers ``GET /v2/<name>/referrers/<digest>`` with an image
    index of them (``?artifactType=`` filters, with ``OCI-Filters-Applied``). The rest is proxied."""

    PATH = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})(?:\?artifactType=(?P<type>\S+))?$")

    def __init__(self, upstream: RegistryServer):
        self.listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(upstream.host))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _handler(self, upstream: str) -> type:
        api = self
        up_host, up_port = upstream.rsplit(":", 1)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _any(self) -> None:
                api.requests.append((self.command, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                m = api.PATH.match(self.path)
                if m and self.command == "GET":
                    found = api.listed.get((m["name"], m["digest"]), [])
                    headers = {"Content-Type": INDEX}
                    if m["type"]:
                        found = [d for d in found if d["artifactType"] == m["type"]]
                        headers["OCI-Filters-Applied"] = "artifactType"
                    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": found}
                    self._send(200, headers, json.dumps(index).encode())
                    return
                conn = http.client.HTTPConnection(up_host, int(up_port), timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                    resp = conn.getresponse()
                    data = resp.read()
                    headers = {k: v for k, v in resp.getheaders()
                               if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                    put = re.match(r"^/v2/(?P<name>.+)/manifests/[^/]+$", self.path)
                    if self.command == "PUT" and put and resp.status == 201:
                        doc = json.loads(body)
                        if isinstance(doc.get("subject"), dict):
                            subject = doc["subject"]["digest"]
                            entry = {"mediaType": doc["mediaType"], "size": len(body),
                                     "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                                     "artifactType": doc.get("artifactType") or doc["config"]["mediaType"],
                                     "annotations": doc.get("annotations") or {}}
                            listed = api.listed.setdefault((put["name"], subject), [])
                            if entry not in listed:
                                listed.append(entry)
                            headers["OCI-Subject"] = subject
                    self._send(resp.status, headers, data)
                finally:
                    conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        return Handler


@pytest.fixture
def referrers_api(registry: RegistryServer) -> Iterator[ReferrersAPI]:
    front = ReferrersAPI(registry)
    yield front
    front.stop()


# -- helpers ------------------------------------------------------------------------------------
def _build(wb: Runner, wasmfile: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = wb("build", str(wasmfile), "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _inspect(wb: Runner, ref: str, *flags: str, env: dict[str, str] | None = None) -> Any:
    proc = wb("inspect", ref, *flags, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _layer_files(layout: Path, manifest_digest: str) -> dict[str, str]:
    """image path -> sha256 of every file in the image's layer, read from the layout."""
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest[7:]).read_bytes())
    out = {}
    with tarfile.open(blobs / manifest["layers"][0]["digest"][7:]) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                out["/" + member.name] = hashlib.sha256(data.read()).hexdigest()
    return out


def _checksum(item: dict[str, Any]) -> str:
    return next(c["checksumValue"] for c in item["checksums"] if c["algorithm"] == "SHA256")


# -- the tests -------------------------------------------------------------------------------------
def test_example_sbom_validates_and_lists_modules_sources_and_toolchains(wb: Runner, tmp_path: Path) -> None:
    from wasmbuild.execute import toolchains

    wasmfile = copy_example(tmp_path / "src")
    layout = tmp_path / "oci"
    result = _build(wb, wasmfile, "-o", f"oci:{layout}")
    sbom = _inspect(wb, f"oci:{layout}", "--sbom")
    assert validate_spdx(sbom) == []
    saved = tmp_path / "sbom.spdx.json"
    saved.write_text(json.dumps(sbom))
    pyspdxtools = shutil.which("pyspdxtools") or str(Path(sys.executable).parent / "pyspdxtools")
    checked = subprocess.run([pyspdxtools, "-i", str(saved)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    packages = {p.get("packageFileName") or p["name"]: p for p in sbom["packages"]}
    files = _layer_files(layout, result["digest"])
    for module in ("/hello.wasm", "/bin/env.wasm"):
        assert packages[module]["primaryPackagePurpose"] == "APPLICATION"
        assert _checksum(packages[module]) == files[module]
    sources = {f["fileName"]: f for f in sbom["files"] if f["fileTypes"] == ["SOURCE"]}
    for rel in ("examples/hello-rust/hello.rs", "examples/hello-c/hello.c"):
        assert _checksum(sources[f"./{rel}"]) == hashlib.sha256((REPO / rel).read_bytes()).hexdigest()
    rust, c = toolchains.get("rust"), toolchains.get("c")
    assert rust is not None and c is not None
    rust_version = re.search(r"rustc (\d+\.\d+\.\d+)", rust.identity)
    clang_version = re.search(r"clang version (\d+\.\d+\.\d+)", c.identity)
    assert rust_version and clang_version
    assert packages["rustc"]["versionInfo"] == rust_version.group(1)
    assert packages["clang"]["versionInfo"] == clang_version.group(1)
    rels = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in sbom["relationships"]}
    assert (packages["rustc"]["SPDXID"], "BUILD_TOOL_OF", packages["/hello.wasm"]["SPDXID"]) in rels
    assert (packages["/bin/env.wasm"]["SPDXID"], "GENERATED_FROM",
            sources["./examples/hello-c/hello.c"]["SPDXID"]) in rels

    provenance = _inspect(wb, f"oci:{layout}", "--provenance")
    assert provenance["subject"][0]["digest"]["sha256"] == result["digest"][7:]
    text = wb("inspect", f"oci:{layout}", "--sbom", "--provenance")
    assert text.returncode == 0, text.stderr
    assert f"application  rustc {rust_version.group(1)}" in text.stdout and "Provenance:" in text.stdout


def test_two_checkouts_give_byte_identical_sbom_and_provenance(wb: Runner, tmp_path: Path) -> None:
    results, documents = [], []
    for name in ("one", "two"):
        env = {"WASMBUILD_STORE": str(tmp_path / name / "store"), "WASMBUILD_CACHE": str(tmp_path / name / "cache")}
        wasmfile = copy_example(tmp_path / name / "checkout")
        results.append(_build(wb, wasmfile, env=env))
        documents.append(_inspect(wb, "hello-wasm", "--sbom", "--provenance", env=env))
    assert results[0]["digest"] == results[1]["digest"]
    assert results[0]["referrers"] == results[1]["referrers"] and len(results[0]["referrers"]) == 2
    assert documents[0] == documents[1]
    store_one, store_two = (tmp_path / n / "store" / "blobs" / "sha256" for n in ("one", "two"))
    for r in results[0]["referrers"]:
        assert (store_one / r["digest"][7:]).read_bytes() == (store_two / r["digest"][7:]).read_bytes()


def test_no_sbom_attaches_nothing_and_the_image_is_the_same(wb: Runner, tmp_path: Path) -> None:
    wasmfile = copy_example(tmp_path / "src")
    bare, full = tmp_path / "bare", tmp_path / "full"
    plain = _build(wb, wasmfile, "--no-sbom", "-o", f"oci:{bare}")
    attested = _build(wb, wasmfile, "-o", f"oci:{full}")
    assert plain["referrers"] == [] and plain["digest"] == attested["digest"]
    assert len(json.loads((bare / "index.json").read_text())["manifests"]) == 1
    assert _inspect(wb, f"oci:{full}", "--provenance")["predicateType"] == "https://slsa.dev/provenance/v1"
    missing = wb("inspect", f"oci:{bare}", "--sbom")
    assert missing.returncode == 6 and "has no sbom attached" in missing.stderr


def test_oci_output_keeps_referrers_unlisted_and_skopeo_takes_it_bare(wb: Runner, tmp_path: Path) -> None:
    """One index.json entry (skopeo refuses two without a tag); the documents are the manifests
    in blobs/ whose subject is the image, found with docs/supply-chain.md's own command."""
    skopeo = require("skopeo")
    wasmfile = copy_example(tmp_path / "src")
    layout = tmp_path / "out"
    result = _build(wb, wasmfile, "-o", f"oci:{layout}:v1")
    digest = result["digest"]
    image = subprocess.run([skopeo, "inspect", "--raw", f"oci:{layout}"], capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(image).hexdigest() == digest
    assert [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]] == [digest]
    doc = (REPO / "docs" / "supply-chain.md").read_text()
    lines = doc[doc.index("# in an oci: layout"):].splitlines()
    script = "\n".join(line for line in lines[:5] if line.startswith(("D=", "grep ")))
    assert script.count("\n") == 1, script
    found = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert {"sha256:" + Path(p).name for p in found.split()} == {r["digest"] for r in result["referrers"]}
    for r in result["referrers"]:
        manifest = json.loads((layout / "blobs" / "sha256" / r["digest"][7:]).read_bytes())
        assert manifest["subject"]["digest"] == digest and manifest["artifactType"] in (SPDX, INTOTO)
    run = wb("run", f"oci:{layout}")
    assert run.returncode == 0, run.stderr


def _push_and_check(wb: Runner, tmp_path: Path, host: str, expect_via: str) -> tuple[str, str, dict[str, Any]]:
    wasmfile = copy_example(tmp_path / "src")
    ref = f"{host}/demo/hello:1"
    proc = wb("build", str(wasmfile), "--json", "-t", ref, "--push", "--plain-http")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    digest = result["digest"]
    assert result["pushed"] == [f"{host}/demo/hello@{digest}"]
    # Without the referrers API, the push says where the documents went (and why some tools miss them).
    warned = [line for line in proc.stderr.splitlines() if "has no referrers API" in line]
    if expect_via == "tag":
        assert warned == [f"warning: {NO_REFERRERS.format(registry=host, tag=fallback_tag(digest))}"]
    else:
        assert warned == []
    # the image on the registry is byte for byte the built one
    status, headers, _ = request("HEAD", f"http://{host}/v2/demo/hello/manifests/1")
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    via, listed = spec_referrers(host, "demo/hello", digest)
    assert via == expect_via
    assert {d["digest"] for d in listed} == {r["digest"] for r in result["referrers"]}
    docs = {d["artifactType"]: spec_document(host, "demo/hello", digest, d) for d in listed}
    assert set(docs) == {SPDX, INTOTO}
    assert validate_spdx(docs[SPDX]) == []
    assert docs[INTOTO]["subject"][0]["digest"] == {"sha256": digest[7:]}
    fresh = {"WASMBUILD_STORE": str(tmp_path / "empty-store")}  # so inspect asks the registry
    assert _inspect(wb, f"docker://{ref}", "--sbom", "--plain-http", env=fresh) == docs[SPDX]
    text = wb("inspect", f"docker://{ref}", "--sbom", "--provenance", "--plain-http", env=fresh)
    assert text.returncode == 0 and f"via {'referrers API' if via == 'api' else 'fallback tag'}" in text.stdout
    return ref, digest, result


def test_push_uses_the_fallback_tag_on_docker_registry_and_repushes_nothing(
        wb: Runner, registry: RegistryServer, tmp_path: Path) -> None:
    ref, digest, result = _push_and_check(wb, tmp_path, registry.host, "tag")
    fallback = f"http://{registry.host}/v2/demo/hello/manifests/{digest.replace(':', '-')}"
    assert request("HEAD", fallback, INDEX)[0] == 200
    mark = registry.mark()
    again = wb("push", ref, ref, "--plain-http", "--json")
    assert again.returncode == 0, again.stderr
    pushed = json.loads(again.stdout)
    assert pushed["digest"] == digest
    assert sorted(pushed["referrers"]) == sorted(r["digest"] for r in result["referrers"])
    assert pushed["uploaded_blobs"] == 0 and registry.blob_uploads(mark) == []
    writes = [(m, p) for m, p, _ in registry.access_log()[mark:] if m in ("PUT", "POST", "PATCH")]
    assert writes == [("PUT", "/v2/demo/hello/manifests/1")]  # the tag only, as every push does
    status, headers, _ = request("HEAD", f"http://{registry.host}/v2/demo/hello/manifests/1")
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    # pulled without its documents, the name still leads to them on the registry
    bare = {"WASMBUILD_STORE": str(tmp_path / "bare-store")}
    proc = wb("pull", ref, "--plain-http", "--no-referrers", "--json", env=bare)
    assert proc.returncode == 0 and json.loads(proc.stdout)["referrers"] == []
    assert referrers(Layout(tmp_path / "bare-store"), digest) == []
    sbom = _inspect(wb, ref, "--sbom", "--plain-http", env=bare)
    assert sbom["packages"][0]["versionInfo"] == digest
    # a plain pull brings them into the store and into -o oci:DIR, each digest as pushed
    pulled = {"WASMBUILD_STORE": str(tmp_path / "pulled-store")}
    proc = wb("pull", ref, "--plain-http", "--json", "-o", f"oci:{tmp_path / 'pulled-oci'}:1", env=pulled)
    assert proc.returncode == 0, proc.stderr
    want = sorted(r["digest"] for r in result["referrers"])
    assert sorted(json.loads(proc.stdout)["referrers"]) == want
    for where in ("pulled-store", "pulled-oci"):
        assert sorted(d.digest for d in referrers(Layout(tmp_path / where), digest)) == want
    assert _inspect(wb, digest, "--sbom", env=pulled) == sbom  # from the store: no registry asked
    # and a push of the pulled image to a mirror repository carries them along
    mirror = f"{registry.host}/mirror/hello:1"
    proc = wb("push", ref, mirror, "--plain-http", "--json", env=pulled)
    assert proc.returncode == 0, proc.stderr
    _via, listed = spec_referrers(registry.host, "mirror/hello", digest)
    assert sorted(d["digest"] for d in listed) == want


def test_push_uses_the_referrers_api_where_the_registry_has_it(
        wb: Runner, registry: RegistryServer, referrers_api: ReferrersAPI, tmp_path: Path) -> None:
    ref, digest, _ = _push_and_check(wb, tmp_path, referrers_api.host, "api")
    # no fallback tag: the registry keeps the list
    fallback = f"http://{registry.host}/v2/demo/hello/manifests/{digest.replace(':', '-')}"
    assert request("HEAD", fallback, INDEX)[0] == 404
    assert len(referrers_api.listed[("demo/hello", digest)]) == 2
    status, headers, body = request(
        "GET", f"http://{referrers_api.host}/v2/demo/hello/referrers/{digest}?artifactType={SPDX}", INDEX)
    assert status == 200 and headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["artifactType"] for m in json.loads(body)["manifests"]] == [SPDX]
    mark = len(referrers_api.requests)
    again = wb("push", ref, ref, "--plain-http", "--json")
    assert again.returncode == 0, again.stderr
    writes = [(m, p) for m, p in referrers_api.requests[mark:] if m in ("PUT", "POST", "PATCH")]
    assert writes == [("PUT", "/v2/demo/hello/manifests/1")]
    # a pull takes them through the API too, skipping a listed referrer the registry lost
    listed = referrers_api.listed[("demo/hello", digest)]
    want = sorted(d["digest"] for d in listed)
    listed.append({**listed[0], "digest": "sha256:" + "0" * 64})
    store = tmp_path / "pulled-store"
    pulled = wb("pull", ref, "--plain-http", "--json", env={"WASMBUILD_STORE": str(store)})
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(json.loads(pulled.stdout)["referrers"]) == want
    assert sorted(d.digest for d in referrers(Layout(store), digest)) == want
    # a registry answering the API with garbage costs the documents, not the pull: one warning
    listed.append({"mediaType": 7})
    store = tmp_path / "garbage-store"
    pulled = wb("pull", ref, "--plain-http", "--json", env={"WASMBUILD_STORE": str(store)})
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout) == {"digest": digest, "reference": ref, "referrers": []}
    [warning] = [line for line in pulled.stderr.splitlines() if line.strip()]
    assert warning.startswith(f"warning: pulled {ref} without its SBOM and provenance: ")
    assert "Traceback" not in pulled.stderr


def test_pulls_by_platform_with_skopeo_and_containerd_after_attaching(
        wb: Runner, registry: RegistryServer, containerd: Containerd, tmp_path: Path) -> None:
    skopeo = require("skopeo")
    ref, digest, _ = _push_and_check(wb, tmp_path, registry.host, "tag")
    copied = subprocess.run([skopeo, "copy", "--src-tls-verify=false", "--override-os", "wasi",
                             "--override-arch", "wasm32", f"docker://{ref}", f"oci:{tmp_path / 'pulled'}:x"],
                            capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    raw = subprocess.run([skopeo, "inspect", "--raw", f"oci:{tmp_path / 'pulled'}:x"],
                         capture_output=True, check=True).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    pulled = containerd.ctr_pull(ref, platform="wasi/wasm32")
    assert pulled.returncode == 0, pulled.stderr
    assert containerd.ctr_missing(digest) == []
    ran = containerd.ctr_run(ref, platform="wasi/wasm32")
    assert ran.returncode == 0, ran.stderr
    ours = wb("run", "--plain-http", f"docker://{ref}", env={"WASMBUILD_STORE": str(tmp_path / "s2")})
    assert ours.returncode == 0 and ran.stdout == ours.stdout == "Hello Wasm\n"

