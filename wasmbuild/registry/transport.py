"""The registry transport: one HTTP session per registry host, auth, and a bounded retry budget.

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

The operations on top (push, pull, inspect) are in :mod:`wasmbuild.registry.ops`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wasmbuild import reference
from wasmbuild.errors import ConfigError, ImageNotFound, RegistryError
from wasmbuild.registry.auth import Credentials, get_credentials

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

DEFAULT_TIMEOUT = 15.0
MAX_ATTEMPTS = 5
_CHUNK = 1 << 20
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to a registry. ``credentials=None`` means look them up (see ``auth``)."""

    plain_http: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float | None = None
    credentials: Credentials | None = None

    @classmethod
    def from_flags(cls, plain_http: bool = False, tls_verify: str = "true", no_tls_verify: bool = False,
                   ca_file: Path | str | None = None, timeout: float | None = None) -> RegistryOptions:
        """The options the command line's ``--plain-http --tls-verify --no-tls-verify --ca-file
        --timeout`` spell (``--tls-verify`` takes podman's true/false words)."""
        value = tls_verify.strip().lower()
        if value not in _TRUE | _FALSE:
            raise ConfigError(f"--tls-verify expects true or false, got {tls_verify!r}")
        return cls(plain_http=plain_http, tls_verify=value in _TRUE and not no_tls_verify,
                   ca_file=str(ca_file) if ca_file else None, timeout=timeout)

    def budget(self) -> float:
        """Seconds one registry operation may take, retries included."""
        if self.timeout is not None:
            value: float = self.timeout
        else:
            env = os.environ.get("WASMBUILD_REGISTRY_TIMEOUT", "")
            try:
                value = float(env) if env else DEFAULT_TIMEOUT
            except ValueError:
                raise ConfigError(
                    f"WASMBUILD_REGISTRY_TIMEOUT={env!r} is not a number of seconds"
                ) from None
        if not 0 < value <= 86400:  # also refuses nan and inf, which sockets reject
            raise ConfigError(f"registry timeout must be a positive number of seconds, got {value}",
                              hint="e.g. --timeout 30")
        return value

    def verify(self) -> bool | str:
        if self.ca_file:
            if not Path(self.ca_file).is_file():
                raise ConfigError(f"CA file {self.ca_file} does not exist",
                                  hint="pass an existing PEM file with --ca-file")
            return self.ca_file
        return self.tls_verify

    def with_credentials(self, creds: Credentials | None) -> RegistryOptions:
        return replace(self, credentials=creds)


class Transient(Exception):
    """A failure worth retrying (connection trouble, 5xx, 429)."""


class _FileBody:
    """A file body streamed in 1 MiB reads (http.client would read 8 KiB at a time)."""

    def __init__(self, path: Path, size: int, on_read: Callable[[int], None] | None = None):
        self._fh = open(path, "rb")  # noqa: SIM115 -- closed by Client._send
        self._size = size
        self._on_read = on_read  # the bytes read so far (a push's progress)
        self._read = 0

    def __len__(self) -> int:
        return self._size

    def read(self, _n: int = -1) -> bytes:
        data = self._fh.read(_CHUNK)
        if self._on_read is not None:
            self._read += len(data)
            self._on_read(self._read)
        return data

    def close(self) -> None:
        self._fh.close()


def cause(exc: BaseException) -> str:
    """The innermost readable reason of a requests/urllib3 exception, on one line."""
    import http.client  # here, not at the top: a build that talks to no registry never needs it

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
        if isinstance(cur, http.client.IncompleteRead):  # urllib3 wraps it in a tuple-like text
            return "the connection closed before the end of the body"
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


class Client:
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
        on_read: Callable[[int], None] | None = None,
    ) -> requests.Response:
        import requests

        data: Any = _FileBody(body, size, on_read) if isinstance(body, Path) else body
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
                if "plain HTTP" in cause(exc)
                else "pass --ca-file FILE, or --tls-verify=false for a test registry"
            )
            raise RegistryError(f"{self.what}: {self.registry}: {cause(exc)}", hint=hint) from None
        except requests.exceptions.RequestException as exc:
            raise Transient(cause(exc)) from None
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
        on_read: Callable[[int], None] | None = None,
    ) -> requests.Response:
        """One request (plus one re-send after an auth challenge). Raises Transient or
        RegistryError; returns responses whose status is in ``ok`` or ``allow``. A file body's
        bytes read so far go to ``on_read``."""
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        headers = dict(headers or {})
        used = self.auth_header
        resp = self._raw(method, url, headers, used, body, size, stream, on_read)
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
                        raise Transient(f"token request failed: {cause(exc)}") from None
            if retry:
                resp = self._raw(method, url, headers, self.auth_header, body, size, stream, on_read)
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
            raise Transient(f"HTTP {code} {detail}".strip())
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
            except Transient as exc:
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
def client(registry: str, opts: RegistryOptions, what: str) -> Iterator[Client]:
    client = Client(registry, opts, what)
    try:
        yield client
    finally:
        client.close()


def parse_ref(ref: str, verb: str) -> reference.Reference:
    text = ref.removeprefix("docker://")
    r = reference.parse(text)
    if r.registry is None:
        raise ConfigError(
            f"cannot {verb} {ref!r}: no registry in the reference",
            hint=f"name one, e.g. localhost:5000/{r.repository}:{r.tag or 'latest'}",
        )
    host, sep, port = r.registry.rpartition(":")
    if sep and "]" not in port and (not port.isdigit() or not 0 < int(port) < 65536 or not host):
        raise ConfigError(f"cannot {verb} {ref!r}: {r.registry!r} is not HOST or HOST:PORT",
                          hint="a port is a number from 1 to 65535")
    return r


def repo_path(r: reference.Reference) -> str:
    import oras.container

    repo = r.repository
    if r.registry == "docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    return f"/v2/{oras.container.Container(repo, registry='x').api_prefix}"

