"""Pytest fixtures: a real registry (Debian's ``docker-registry``, CNCF distribution) on loopback.

Variants: plain HTTP (``registry``), htpasswd basic auth (``auth_registry``), self-signed TLS
(``tls_registry``). Each runs in a temp dir on a free port; its access log (stdout) lets tests count
blob uploads. ``fault_proxy`` puts a loopback HTTP proxy in front of a registry that answers 500 to
chosen requests. In CI (``CI`` set) a missing binary fails the test instead of skipping it.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import require
from wasmbuild.registry.transport import RegistryOptions

__all__ = ["require"]

USERNAME = "wasm-user"
PASSWORD = "s3cret-Pa55-do-not-leak"
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dead_port() -> int:
    """A loopback port with nothing listening."""
    return free_port()


@dataclass
class RegistryServer:
    host: str
    scheme: str
    root: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def opts(self, **kw: object) -> RegistryOptions:
        base: dict[str, object] = {"plain_http": self.scheme == "http", "timeout": 10.0}
        if self.ca_file:
            base["ca_file"] = str(self.ca_file)
        base.update(kw)
        return RegistryOptions(**base)  # type: ignore[arg-type]

    def ref(self, repo: str, tag: str = "latest") -> str:
        return f"{self.host}/{repo}:{tag}"

    def access_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request so far.

        The registry writes a line just after answering, so wait until the log stops growing."""
        deadline = time.monotonic() + 3
        size, quiet = -1, 0
        while quiet < 3 and time.monotonic() < deadline:
            now = self.log_path.stat().st_size
            quiet = quiet + 1 if now == size else 0
            size = now
            time.sleep(0.05)
        text = self.log_path.read_text(errors="replace")
        return [(m["method"], m["path"], int(m["status"])) for m in _ACCESS.finditer(text)]

    def blob_uploads(self, since: int = 0) -> list[str]:
        """Completed blob uploads (the final PUT carrying ?digest=) after log entry ``since``."""
        out = []
        for method, path, status in self.access_log()[since:]:
            if method == "PUT" and "/blobs/uploads/" in path and status == 201:
                m = re.search(r"digest=(sha256(?::|%3A)[0-9a-f]{64})", path)
                out.append(m.group(1).replace("%3A", ":") if m else path)
        return out

    def mark(self) -> int:
        return len(self.access_log())

    def manifest_status(self, repo: str, tag: str) -> int:
        """HTTP status of GET manifest, asked directly of the registry (bypassing proxies)."""
        import ssl

        url = f"{self.scheme}://{self.host}/v2/{repo}/manifests/{tag}"
        req = urllib.request.Request(
            url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
        if self.username:
            import base64

            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        try:
            with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)


def _wait_ready(server: RegistryServer, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited with {server.proc.returncode}: "
                + server.log_path.read_text(errors="replace")[-2000:]
            )
        try:
            port = int(server.host.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not start on {server.host}")


def make_cert(directory: Path) -> tuple[Path, Path]:
    require("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def start_registry(
    directory: Path, *, auth: bool = False, tls: bool = False, token_realm: str | None = None
) -> RegistryServer:
    binary = require("docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {directory / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: wasmbuild-test-secret",
    ]
    ca = None
    if tls:
        cert, key = make_cert(directory)
        ca = cert
        lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
    if auth:
        require("htpasswd")
        htpasswd = directory / "htpasswd"
        subprocess.run(
            ["htpasswd", "-Bbc", str(htpasswd), USERNAME, PASSWORD],
            check=True,
            capture_output=True,
        )
        lines += ["auth:", "  htpasswd:", "    realm: wasmbuild-test", f"    path: {htpasswd}"]
    if token_realm:
        lines += [
            "auth:",
            "  token:",
            f"    realm: {token_realm}",
            f"    service: {TOKEN_SERVICE}",
            f"    issuer: {TOKEN_ISSUER}",
            f"    rootcertbundle: {directory.parent / 'token' / 'cert.pem'}",
        ]
    config = directory / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log_path = directory / "registry.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    server = RegistryServer(
        host=f"127.0.0.1:{port}",
        scheme="https" if tls else "http",
        root=directory,
        log_path=log_path,
        proc=proc,
        ca_file=ca,
        username=USERNAME if auth or token_realm else None,
        password=PASSWORD if auth or token_realm else None,
    )
    try:
        _wait_ready(server)
    except BaseException:
        stop_registry(server)
        raise
    return server


def stop_registry(server: RegistryServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A plain-HTTP registry on 127.0.0.1."""
    server = start_registry(tmp_path / "registry")
    yield server
    stop_registry(server)


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A plain-HTTP registry requiring htpasswd basic auth (USERNAME / PASSWORD)."""
    server = start_registry(tmp_path / "registry-auth", auth=True)
    yield server
    stop_registry(server)


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """An HTTPS registry with a self-signed certificate (``server.ca_file``)."""
    server = start_registry(tmp_path / "registry-tls", tls=True)
    yield server
    stop_registry(server)


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Own DOCKER_CONFIG and WASMBUILD_STORE; no CI credentials leaking in from the host."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("WASMBUILD_STORE", str(home / "store"))
    monkeypatch.delenv("WASMBUILD_USERNAME", raising=False)
    monkeypatch.delenv("WASMBUILD_PASSWORD", raising=False)
    monkeypatch.delenv("WASMBUILD_REGISTRY_TIMEOUT", raising=False)
    return home


# -- bearer-token auth ----------------------------------------------------------------------
TOKEN_SERVICE = "wasmbuild-test-registry"
TOKEN_ISSUER = "wasmbuild-test-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A minimal Docker token service (JWT RS256 signed with openssl, cert in ``x5c``): it grants
    the requested scope to USERNAME/PASSWORD and refuses anonymous requests."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_cert(directory)
        self.x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(self.cert.read_text())).decode()
        self.requests: list[tuple[str, bool]] = []  # (scope, had credentials)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def sign(self, claims: dict[str, object]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return f"{signing_input}.{_b64url(sig)}"

    def _handler(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                scope = (query.get("scope") or [""])[0]
                given = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
                server.requests.append((scope, bool(given)))
                if given != expected:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                access = []
                if scope:
                    kind, name, actions = scope.split(":", 2)
                    access.append({"type": kind, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                token = server.sign(
                    {
                        "iss": TOKEN_ISSUER,
                        "sub": USERNAME,
                        "aud": TOKEN_SERVICE,
                        "exp": now + 300,
                        "nbf": now - 10,
                        "iat": now,
                        "jti": f"{now}-{len(server.requests)}",
                        "access": access,
                    }
                )
                body = json.dumps({"token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[RegistryServer, TokenServer]]:
    """A plain-HTTP registry using bearer-token auth, and its token service."""
    tokens = TokenServer(tmp_path / "token")
    try:
        server = start_registry(tmp_path / "registry-token", token_realm=tokens.realm)
    except BaseException:
        tokens.stop()
        raise
    yield server, tokens
    stop_registry(server)
    tokens.stop()


# -- fault-injection proxy -------------------------------------------------------------------
Fault = Callable[[str, str], bool]


@dataclass
class FaultProxy:
    host: str
    requests: list[tuple[str, str, int]]
    server: ThreadingHTTPServer


Rewrite = Callable[[str, str, bytes], bytes]
#: ``cut(method, path)``: answer with the full headers, send half the body, drop the connection.
Cut = Callable[[str, str], bool]
CUT = -1  # the status recorded in ``FaultProxy.requests`` for a cut response


def _handler(
    upstream: str, fault: Fault, seen: list[tuple[str, str, int]], rewrite: Rewrite | None,
    cut: Cut | None = None,
) -> type:
    up_host, up_port = upstream.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if fault(self.command, self.path):
                seen.append((self.command, self.path, 500))
                payload = b'{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}'
                self.send_response(500, "Internal Server Error")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=30)
            try:
                # Keep the client's Host header: the registry builds upload Locations from it,
                # so follow-up requests come back through this proxy.
                headers = dict(self.headers.items())
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if rewrite is not None:
                    data = rewrite(self.command, self.path, data)
                seen.append((self.command, self.path, resp.status))
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD" and cut is not None and cut(self.command, self.path):
                    seen[-1] = (self.command, self.path, CUT)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    # A dropped connection, not a clean close: the client has a Content-Length
                    # it will never see, as when a proxy or the network dies mid-download.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: ``fault_proxy(registry, fault, rewrite=None, cut=None)`` -> a loopback proxy
    answering 500 whenever ``fault(method, path)`` is true, forwarding everything else to
    ``registry``; ``rewrite(method, path, body)`` may alter response bodies (to corrupt a blob),
    and a response for which ``cut(method, path)`` is true stops halfway through its body."""
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(server: RegistryServer, fault: Fault, rewrite: Rewrite | None = None,
              cut: Cut | None = None) -> FaultProxy:
        seen: list[tuple[str, str, int]] = []
        handler = _handler(server.host, fault, seen, rewrite, cut)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        started.append((httpd, thread))
        return FaultProxy(f"127.0.0.1:{httpd.server_address[1]}", seen, httpd)

    yield start
    for httpd, thread in started:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
