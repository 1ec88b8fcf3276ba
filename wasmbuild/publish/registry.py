"""Push, pull and inspect images in an OCI registry. The only module that touches oras-py.

We use oras-py's pieces -- its token-auth backend (Bearer challenges, token requests), its basic
auth encoding and its :class:`~oras.container.Container` repository parsing -- but not its
``push()``/``upload_blob()``/``do_request()``:

* ``push()`` writes a manifest of its own (title annotations, its config); we must push our exact
  manifest bytes so the registry digest equals the local one.
* ``put_upload()`` reads the whole blob into memory (``data=fd.read()``); we stream from the file.
* ``do_request()`` has no socket timeout and sits under ``oras.decorator.retry``, which sleeps
  ``2 + 3**n`` seconds over five attempts (minutes against a dead registry). We retry a bounded
  number of times inside a total time budget (``RegistryOptions.timeout``, default 15 s or
  ``WASMBUILD_REGISTRY_TIMEOUT``), and each failure becomes one line naming registry, reference
  and cause.

Order of a push: blobs (layers, config) first, then child manifests of an index, then the tagged
manifest last -- so a tag never points at a manifest whose blobs are missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import reference
from ..errors import ImageNotFound, RegistryError, WasmbuildError
from ..oci import MEDIA_INDEX, MEDIA_MANIFEST, Descriptor, sha256_digest
from .auth import Credentials, get_credentials

if TYPE_CHECKING:
    import requests

    from ..oci.layout import Layout

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
MAX_ATTEMPTS = 5
PARALLEL_UPLOADS = 4
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (MEDIA_INDEX, DOCKER_LIST)
MANIFEST_ACCEPT = ", ".join([MEDIA_MANIFEST, MEDIA_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
WASI_OSES = ("wasi", "wasip1", "wasip2")
_CHUNK = 1 << 20
_MAX_MANIFEST = 4 << 20


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to a registry. ``credentials=None`` means look them up (see ``auth``)."""

    plain_http: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float | None = None
    credentials: Credentials | None = None

    def budget(self) -> float:
        """Seconds one registry operation may take, retries included."""
        if self.timeout is not None:
            value: float = self.timeout
        else:
            env = os.environ.get("WASMBUILD_REGISTRY_TIMEOUT", "")
            try:
                value = float(env) if env else DEFAULT_TIMEOUT
            except ValueError:
                raise WasmbuildError(
                    f"WASMBUILD_REGISTRY_TIMEOUT={env!r} is not a number of seconds"
                ) from None
        if value <= 0:
            raise WasmbuildError(f"registry timeout must be positive, got {value}")
        return value

    def verify(self) -> bool | str:
        if self.ca_file:
            if not Path(self.ca_file).is_file():
                raise WasmbuildError(f"CA file {self.ca_file} does not exist")
            return self.ca_file
        return self.tls_verify

    def with_credentials(self, creds: Credentials | None) -> RegistryOptions:
        return replace(self, credentials=creds)


@dataclass
class PushStats:
    """What a push actually sent (for progress output, tests and the benchmark)."""

    blobs_uploaded: int = 0
    bytes_uploaded: int = 0
    blobs_skipped: int = 0
    uploaded: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, digest: str, size: int | None) -> None:
        """Record one blob: uploaded (``size`` bytes) or already present (``size=None``)."""
        with self._lock:
            if size is None:
                self.blobs_skipped += 1
            else:
                self.blobs_uploaded += 1
                self.bytes_uploaded += size
                self.uploaded.append(digest)


class _Transient(Exception):
    """A failure worth retrying (connection trouble, 5xx, 429)."""


class _FileBody:
    """A file body streamed in 1 MiB reads (http.client would read 8 KiB at a time)."""

    def __init__(self, path: Path, size: int):
        self._fh = open(path, "rb")  # noqa: SIM115 -- closed by _Client._send
        self._size = size

    def __len__(self) -> int:
        return self._size

    def read(self, _n: int = -1) -> bytes:
        return self._fh.read(_CHUNK)

    def close(self) -> None:
        self._fh.close()


def _cause(exc: BaseException) -> str:
    """The innermost readable reason of a requests/urllib3 exception, on one line."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return "TLS handshake failed: the registry speaks plain HTTP"
        return "TLS certificate verification failed"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror.lower()
        stack.extend(a for a in cur.args if isinstance(a, BaseException))
        for nxt in (cur.__cause__, cur.__context__, getattr(cur, "reason", None)):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return m.group(1).lower() if m else text[:200]


def _error_detail(resp: requests.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        msgs = [f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors]
        if msgs:
            return "; ".join(msgs)[:200]
    except (ValueError, AttributeError):
        pass
    return resp.reason or ""


class _Client:
    """One registry host: session, auth state, bounded retries."""

    def __init__(self, registry: str, opts: RegistryOptions, what: str):
        from http.cookiejar import DefaultCookiePolicy

        import oras.auth
        import requests

        self.registry = registry
        self.what = what  # e.g. "push localhost:5000/hello:1", for error messages
        self.opts = opts
        self.budget = opts.budget()
        self.verify = opts.verify()
        self.host = "registry-1.docker.io" if registry == "docker.io" else registry
        self.scheme = "http" if opts.plain_http else "https"
        # Not oras.provider.Registry: importing it pulls in jsonschema (~0.1 s of start-up), and its
        # constructor calls urllib3.disable_warnings() process-wide when tls_verify is False. We
        # build the same session (cookies ignored, as oras does: some registries take a cookie
        # as a sign of a browser) and silence InsecureRequestWarning per request instead.
        self.session = requests.Session()
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.token_auth = oras.auth.get_auth_backend(
            "token", self.session, opts.plain_http, tls_verify=self.verify
        )
        adapter = _timeout_adapter(self.budget)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.creds = opts.credentials if opts.credentials is not None else get_credentials(registry)
        self.auth_header: dict[str, str] = {}
        self._auth_lock = threading.Lock()
        self._local = threading.local()  # per-thread deadline: blobs upload in parallel

    @property
    def deadline(self) -> float:
        value: float = getattr(self._local, "deadline", time.monotonic() + self.budget)
        return value

    @deadline.setter
    def deadline(self, value: float) -> None:
        self._local.deadline = value

    def close(self) -> None:
        self.session.close()

    # -- plumbing --------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        if self.verify is False:
            from urllib3.exceptions import InsecureRequestWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                yield
        else:
            yield

    def _raw(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        auth: dict[str, str],
        body: Path | bytes | None,
        size: int,
        stream: bool,
    ) -> requests.Response:
        import requests

        data: Any = _FileBody(body, size) if isinstance(body, Path) else body
        remaining = max(self.deadline - time.monotonic(), 0.5)
        try:
            with self._quiet():
                return self.session.request(
                    method,
                    url,
                    headers={**headers, **auth},
                    data=data,
                    stream=stream,
                    verify=self.verify,
                    timeout=(min(remaining, self.budget), self.budget),
                    allow_redirects=True,
                )
        except requests.exceptions.SSLError as exc:
            hint = (
                "use --plain-http for an HTTP registry"
                if "plain HTTP" in _cause(exc)
                else "pass --ca-file FILE, or --tls-verify=false for a test registry"
            )
            raise RegistryError(f"{self.what}: {self.registry}: {_cause(exc)}", hint=hint) from None
        except requests.exceptions.RequestException as exc:
            raise _Transient(_cause(exc)) from None
        finally:
            if isinstance(data, _FileBody):
                data.close()

    def _authenticate(self, challenge: str) -> bool:
        """Answer a 401 challenge; False if we have nothing new to offer."""
        import oras.auth.utils

        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if self.creds is None:
                return False
            value = "Basic " + oras.auth.utils.get_basic_auth(
                self.creds.username, self.creds.password
            )
            if self.auth_header.get("Authorization") == value:
                return False
            self.auth_header = {"Authorization": value}
            return True
        if scheme == "bearer":
            h = oras.auth.utils.parse_auth_header(challenge)
            with self._quiet():
                if self.creds is not None:
                    self.token_auth.set_basic_auth(self.creds.username, self.creds.password)
                    token = self.token_auth.request_token(h)
                else:
                    token = self.token_auth.request_anonymous_token(h)
            if not token or self.auth_header.get("Authorization") == f"Bearer {token}":
                return False
            self.auth_header = {"Authorization": f"Bearer {token}"}
            return True
        return False

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Path | bytes | None = None,
        size: int = 0,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 201, 202),
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """One request (plus one re-send after an auth challenge). Raises _Transient or
        RegistryError; returns responses whose status is in ``ok`` or ``allow``."""
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        headers = dict(headers or {})
        used = self.auth_header
        resp = self._raw(method, url, headers, used, body, size, stream)
        if resp.status_code == 401:
            challenge = resp.headers.get("Www-Authenticate", "")
            resp.close()
            with self._auth_lock:
                # Another thread may have answered a challenge meanwhile: use its answer.
                retry = self.auth_header is not used
                if not retry:
                    try:
                        retry = self._authenticate(challenge)
                    except Exception as exc:  # the token endpoint itself failed
                        raise _Transient(f"token request failed: {_cause(exc)}") from None
            if retry:
                resp = self._raw(method, url, headers, self.auth_header, body, size, stream)
        code = resp.status_code
        if code in ok or code in allow:
            return resp
        detail = _error_detail(resp)
        resp.close()
        if code == 401:
            login = f"wasmbuild login {self.registry} -u USER --password-stdin"
            if self.creds is None:
                raise RegistryError(
                    f"{self.what}: {self.registry} requires authentication",
                    hint=f"run `{login}` or set WASMBUILD_USERNAME/WASMBUILD_PASSWORD",
                )
            raise RegistryError(
                f"{self.what}: {self.registry} rejected the credentials for "
                f"{self.creds.username!r}",
                hint=f"run `{login}` again",
            )
        if code == 403:
            raise RegistryError(
                f"{self.what}: {self.registry} denied access ({detail})",
                hint="check that your account may push/pull this repository",
            )
        if code >= 500 or code == 429:
            raise _Transient(f"HTTP {code} {detail}".strip())
        if code == 404:
            raise ImageNotFound(f"{self.what}: not found on {self.registry} ({detail})")
        hint = None
        if code == 400 and self.scheme == "http" and "HTTPS" in detail + resp.text[:200]:
            hint = "the registry speaks HTTPS: drop --plain-http"
        raise RegistryError(
            f"{self.what}: {self.registry} answered HTTP {code} ({detail})", hint=hint
        )

    def retry(self, step: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` with bounded retries inside the time budget."""
        start = time.monotonic()
        self.deadline = start + self.budget
        delay = 0.25
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return fn()
            except _Transient as exc:
                cause = str(exc)
            elapsed = time.monotonic() - start
            if attempt == MAX_ATTEMPTS or start + elapsed + delay >= self.deadline:
                hint = None
                if "refused" in cause or "timed out" in cause or "name" in cause:
                    hint = "is the registry running and the address right?"
                raise RegistryError(
                    f"{self.what}: {step} on {self.registry} failed after {attempt} "
                    f"attempt{'s' if attempt > 1 else ''} in {elapsed:.1f}s: {cause}",
                    hint=hint,
                )
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        raise AssertionError("unreachable")


def _timeout_adapter(timeout: float) -> Any:
    """A transport adapter giving every request on the session a timeout -- including oras'
    token requests, which pass none. Built lazily: importing requests costs CLI start-up."""
    import requests.adapters

    class TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, **kwargs)

    return TimeoutAdapter()


@contextlib.contextmanager
def _client(registry: str, opts: RegistryOptions, what: str) -> Iterator[_Client]:
    client = _Client(registry, opts, what)
    try:
        yield client
    finally:
        client.close()


def _parse_ref(ref: str, verb: str) -> reference.Reference:
    text = ref.removeprefix("docker://")
    r = reference.parse(text)
    if r.registry is None:
        raise WasmbuildError(
            f"cannot {verb} {ref!r}: no registry in the reference",
            hint=f"name one, e.g. localhost:5000/{r.repository}:{r.tag or 'latest'}",
        )
    return r


def _repo_path(r: reference.Reference) -> str:
    import oras.container

    repo = r.repository
    if r.registry == "docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    return f"/v2/{oras.container.Container(repo, registry='x').api_prefix}"


# -- push ----------------------------------------------------------------------------------
def _push_blob(c: _Client, repo: str, layout: Layout, desc: Descriptor, stats: PushStats) -> None:
    head = c.retry(
        f"checking blob {desc.digest[:19]}",
        lambda: c.send("HEAD", f"{repo}/blobs/{desc.digest}", allow=(404,)),
    )
    head.close()
    if head.status_code == 200:
        stats.add(desc.digest, None)
        return
    path = layout.blob_path(desc.digest)
    if not path.is_file():
        raise ImageNotFound(f"{c.what}: blob {desc.digest} is missing from {layout.path}")
    size = path.stat().st_size

    def upload() -> None:
        import oras.utils

        start = c.send("POST", f"{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        start.close()
        location = start.headers.get("Location", "")
        if not location:
            raise RegistryError(f"{c.what}: {c.registry} gave no upload location")
        if not location.startswith("http"):
            location = c.url(location)
        put_url = oras.utils.append_url_params(location, {"digest": desc.digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        c.send("PUT", put_url, headers=headers, body=path, size=size).close()

    c.retry(f"uploading blob {desc.digest[:19]}", upload)
    stats.add(desc.digest, size)


def _push_blobs(
    c: _Client, repo: str, layout: Layout, blobs: list[Descriptor], stats: PushStats
) -> None:
    """Push blobs, several at once (as skopeo does): one stream rarely saturates a registry."""
    _parallel(c, lambda b: _push_blob(c, repo, layout, b, stats), blobs)


def _parallel(c: _Client, fn: Callable[[Descriptor], None], blobs: list[Descriptor]) -> None:
    """Run ``fn`` on each distinct blob, biggest first, up to PARALLEL_UPLOADS at a time.
    Every call finishes (each is bounded by the time budget); the first failure is raised.

    Without TLS verification everything runs in this thread: silencing urllib3's
    InsecureRequestWarning needs ``warnings.catch_warnings``, which is not thread-safe."""
    from concurrent.futures import ThreadPoolExecutor

    unique = sorted({b.digest: b for b in blobs}.values(), key=lambda b: -b.size)
    if len(unique) <= 1 or c.verify is False:
        for blob in unique:
            fn(blob)
        return
    with ThreadPoolExecutor(max_workers=min(PARALLEL_UPLOADS, len(unique))) as pool:
        futures = [pool.submit(fn, b) for b in unique]
    for future in futures:
        exc = future.exception()
        if exc is not None:
            raise exc


def _push_manifest(
    c: _Client, repo: str, layout: Layout, desc: Descriptor, tag: str, stats: PushStats
) -> None:
    data = layout.read_blob(desc.digest)
    doc = json.loads(data)
    if desc.media_type in INDEX_TYPES:
        for child in doc.get("manifests") or []:
            child_desc = Descriptor.from_json(child)
            _push_manifest(c, repo, layout, child_desc, child_desc.digest, stats)
    else:
        blobs = [Descriptor.from_json(b) for b in [doc["config"], *(doc.get("layers") or [])]]
        _push_blobs(c, repo, layout, blobs, stats)
    media_type = doc.get("mediaType") or desc.media_type
    resp = c.retry(
        f"uploading manifest {desc.digest[:19]}",
        lambda: c.send(
            "PUT", f"{repo}/manifests/{tag}", headers={"Content-Type": media_type}, body=data
        ),
    )
    resp.close()
    got = resp.headers.get("Docker-Content-Digest")
    if got and got != desc.digest:
        raise RegistryError(
            f"{c.what}: {c.registry} stored the manifest as {got}, expected {desc.digest}",
            hint="the registry rewrote the manifest; use an OCI-compliant registry",
        )


def push(
    layout: Layout,
    desc: Descriptor,
    ref: str,
    opts: RegistryOptions | None = None,
    *,
    stats: PushStats | None = None,
) -> str:
    """Push the image ``desc`` (from ``layout``) to ``ref`` byte for byte.

    Blobs the registry already has are not uploaded. Returns ``registry/repo@sha256:...``;
    its digest equals ``desc.digest``.
    """
    opts = opts or RegistryOptions()
    stats = stats if stats is not None else PushStats()
    r = _parse_ref(ref, "push to")
    if r.digest and r.digest != desc.digest:
        raise WasmbuildError(
            f"cannot push {desc.digest} to {ref}: the reference pins another digest"
        )
    with _client(r.registry or "", opts, f"push {r}") as c:
        _push_manifest(c, _repo_path(r), layout, desc, r.tag or desc.digest, stats)
    return f"{r.name}@{desc.digest}"


# -- pull / inspect --------------------------------------------------------------------------
def _fetch_manifest(
    c: _Client, repo: str, target: str, expect: str | None
) -> tuple[bytes, str, str]:
    """GET a manifest; returns (bytes, media type, digest) after checking the digest."""

    def get() -> tuple[bytes, str, str | None]:
        resp = c.send("GET", f"{repo}/manifests/{target}", headers={"Accept": MANIFEST_ACCEPT})
        with resp:
            data = resp.content
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
            return data, ctype, resp.headers.get("Docker-Content-Digest")

    data, ctype, header = c.retry(f"fetching manifest {target}", get)
    if len(data) > _MAX_MANIFEST:
        raise RegistryError(f"{c.what}: manifest from {c.registry} is implausibly large")
    digest = sha256_digest(data)
    for want in (expect, header):
        if want and want != digest:
            raise RegistryError(
                f"{c.what}: manifest digest mismatch on {c.registry}: got {digest}, expected {want}"
            )
    try:
        doc = json.loads(data)
    except ValueError:
        raise RegistryError(
            f"{c.what}: {c.registry} returned a manifest that is not JSON"
        ) from None
    return data, doc.get("mediaType") or ctype or MEDIA_MANIFEST, digest


def _pick_wasi(c: _Client, index: dict[str, Any]) -> Descriptor:
    entries = [Descriptor.from_json(m) for m in index.get("manifests") or []]
    for want_arch in (("wasm32", "wasm"), ("wasm64",), None):
        for d in entries:
            plat = d.platform or {}
            if plat.get("os") in WASI_OSES and (
                want_arch is None or plat.get("architecture") in want_arch
            ):
                return d
    found = ", ".join(
        f"{(d.platform or {}).get('os')}/{(d.platform or {}).get('architecture')}" for d in entries
    )
    raise ImageNotFound(
        f"{c.what}: the index has no wasi platform entry (has: {found or 'none'})",
        hint="push a wasi/wasm32 image to this tag",
    )


def _resolve(
    c: _Client, repo: str, r: reference.Reference
) -> tuple[Descriptor, bytes, Descriptor | None]:
    """Resolve ``r`` to (image manifest desc, its bytes, index desc if there was one)."""
    target = r.digest or r.tag or "latest"
    data, mtype, digest = _fetch_manifest(c, repo, target, r.digest)
    if mtype in INDEX_TYPES:
        index_desc = Descriptor(mtype, digest, len(data))
        chosen = _pick_wasi(c, json.loads(data))
        mdata, mmtype, mdigest = _fetch_manifest(c, repo, chosen.digest, chosen.digest)
        desc = Descriptor(mmtype, mdigest, len(mdata), platform=chosen.platform)
        return desc, mdata, index_desc
    return Descriptor(mtype, digest, len(data)), data, None


def _download_blob(c: _Client, repo: str, layout: Layout, desc: Descriptor) -> None:
    if layout.has_blob(desc.digest):
        return
    dest = layout.blob_path(desc.digest)
    staging = dest.parent / f".incoming-{os.getpid()}-{threading.get_ident()}-{desc.digest[7:19]}"
    dest.parent.mkdir(parents=True, exist_ok=True)

    def fetch() -> None:
        h = hashlib.sha256()
        size = 0
        with c.send("GET", f"{repo}/blobs/{desc.digest}", stream=True) as resp:
            try:
                with open(staging, "wb") as fh:
                    for chunk in resp.iter_content(_CHUNK):
                        h.update(chunk)
                        size += len(chunk)
                        fh.write(chunk)
            except OSError as exc:
                raise WasmbuildError(f"{c.what}: cannot write {staging}: {exc.strerror}") from None
            except Exception as exc:  # connection dropped mid-body
                raise _Transient(_cause(exc)) from None
        got = "sha256:" + h.hexdigest()
        if got != desc.digest or size != desc.size:
            raise RegistryError(
                f"{c.what}: blob {desc.digest} from {c.registry} has digest {got} "
                f"and size {size} (expected size {desc.size})"
            )

    try:
        c.retry(f"downloading blob {desc.digest[:19]}", fetch)
        os.replace(staging, dest)
    finally:
        staging.unlink(missing_ok=True)


def pull(ref: str, layout: Layout, opts: RegistryOptions | None = None) -> Descriptor:
    """Download ``ref`` into ``layout``, verifying every digest; returns the manifest descriptor.

    For an index, the ``wasi`` platform entry is pulled. The caller tags the result.
    """
    opts = opts or RegistryOptions()
    r = _parse_ref(ref, "pull")
    layout.init()
    with _client(r.registry or "", opts, f"pull {r}") as c:
        repo = _repo_path(r)
        desc, data, _index = _resolve(c, repo, r)
        doc = json.loads(data)
        blobs = [Descriptor.from_json(b) for b in [doc["config"], *(doc.get("layers") or [])]]
        _parallel(c, lambda b: _download_blob(c, repo, layout, b), blobs)
        layout.write_blob(data)  # last: the manifest only lands once its blobs are in
    return desc


def inspect_remote(ref: str, opts: RegistryOptions | None = None) -> dict[str, Any]:
    """Fetch ``ref``'s manifest and config. Keys: reference, digest, mediaType, manifest, config,
    platform (from the index entry, if any), index_digest (if ``ref`` named an index)."""
    opts = opts or RegistryOptions()
    r = _parse_ref(ref, "inspect")
    with _client(r.registry or "", opts, f"inspect {r}") as c:
        repo = _repo_path(r)
        desc, data, index = _resolve(c, repo, r)
        manifest = json.loads(data)
        cfg_desc = Descriptor.from_json(manifest["config"])

        def get_config() -> bytes:
            with c.send("GET", f"{repo}/blobs/{cfg_desc.digest}") as resp:
                return resp.content

        cfg_bytes = c.retry("fetching config", get_config)
        if sha256_digest(cfg_bytes) != cfg_desc.digest:
            raise RegistryError(f"{c.what}: config blob digest mismatch on {c.registry}")
    return {
        "reference": str(r),
        "name": r.name,
        "digest": desc.digest,
        "mediaType": desc.media_type,
        "manifest": manifest,
        "config": json.loads(cfg_bytes),
        "platform": desc.platform,
        "index_digest": index.digest if index else None,
    }


def check_login(registry: str, opts: RegistryOptions) -> None:
    """Verify ``opts.credentials`` against ``registry`` (GET /v2/). Raises RegistryError."""
    with _client(registry, opts, f"login {registry}") as c:
        c.retry("checking credentials", lambda: c.send("GET", "/v2/")).close()


def pull_tree(ref: str, layout: Layout, opts: RegistryOptions | None = None) -> Descriptor:
    """Download ``ref`` and everything under it (every child of an index, not just the wasi
    one) into ``layout``, verifying each digest; returns the top descriptor (untagged).

    Used for artifact indexes such as a shared stage cache (``--cache-from``).
    """
    opts = opts or RegistryOptions()
    r = _parse_ref(ref, "pull")
    layout.init()
    with _client(r.registry or "", opts, f"pull {r}") as c:
        repo = _repo_path(r)

        def fetch(target: str, expect: str | None) -> Descriptor:
            data, mtype, digest = _fetch_manifest(c, repo, target, expect)
            doc = json.loads(data)
            if mtype in INDEX_TYPES:
                for child in doc.get("manifests") or []:
                    fetch(child["digest"], child["digest"])
            else:
                blobs = [Descriptor.from_json(b) for b in [doc["config"], *(doc.get("layers") or [])]]
                _parallel(c, lambda b: _download_blob(c, repo, layout, b), blobs)
            layout.write_blob(data)  # after its children: a manifest never lands without them
            return Descriptor(mtype, digest, len(data))

        return fetch(r.digest or r.tag or "latest", r.digest)
