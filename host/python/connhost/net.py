"""HTTPS for the `http` import: TLS with the system roots plus an extra
CA, one deadline for the whole exchange, a cap on the body, redirects
returned and never followed, and only public addresses unless the caller
maps a name to a socket itself (`connect_to`, like curl's `--connect-to`).
Connections are kept alive per address and name; one goes back to the
pool only after its response was read whole."""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional
from urllib.parse import urlsplit

from . import policy


class NetError(Exception):
    """Why no response came: `kind` is the http import's error case."""

    def __init__(self, kind: str, message: str, cap: Optional[int] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.cap = cap


@dataclass
class NetConfig:
    ca_pem: Optional[str] = None
    #: `{"host:443": "127.0.0.1:8443"}`
    connect_to: Mapping[str, str] = field(default_factory=dict)
    max_body_bytes: int = 4 * 1024 * 1024
    timeout_ms: int = 30_000
    max_timeout_ms: int = 120_000


class _Connection(http.client.HTTPSConnection):
    """Connects to a given socket address while TLS checks the URL's host."""

    def __init__(self, host: str, port: int, addr: tuple[str, int], **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(host, port, **kw)
        self._addr = addr

    def connect(self) -> None:
        sock = socket.create_connection(self._addr, self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


#: Idle connections kept per address and name, and for how long.
MAX_IDLE = 8
IDLE_SECONDS = 30.0
#: Methods safe to send again when a kept-alive connection turns out closed.
IDEMPOTENT = frozenset(["GET", "HEAD", "PUT", "DELETE"])


def _dropped(conn: _Connection) -> bool:
    """Whether the peer closed an idle connection (it is readable: EOF)."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class HttpsClient:
    def __init__(self, cfg: NetConfig) -> None:
        self.cfg = cfg
        ctx = ssl.create_default_context()
        if cfg.ca_pem:
            ctx.load_verify_locations(cadata=cfg.ca_pem)
        self.tls = ctx
        self._idle: dict[tuple[str, int, tuple[str, int]], list[tuple[_Connection, float]]] = {}
        self._lock = threading.Lock()

    def _take(self, key: tuple[str, int, tuple[str, int]]) -> Optional[_Connection]:
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                conn, since = idle.pop()
                if time.monotonic() - since < IDLE_SECONDS and not _dropped(conn):
                    return conn
                conn.close()
        return None

    def _put(self, key: tuple[str, int, tuple[str, int]], conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append((conn, time.monotonic()))
                return
        conn.close()

    def _address(self, host: str, port: int) -> tuple[str, int]:
        mapped = self.cfg.connect_to.get(f"{host}:{port}")
        if mapped is not None:
            addr, _, p = mapped.rpartition(":")
            return addr, int(p)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise NetError("network", f"{host}: name not resolved") from None
        addresses = [i[4][0] for i in infos]
        if not addresses or not all(policy.is_public(a) for a in addresses):
            raise NetError("network", f"{host}: not a public address; refused")
        return addresses[0], port

    def _identity_context(self, cert_pem: str, key_pem: str) -> ssl.SSLContext:
        """A context presenting a client certificate (mutual TLS). `ssl`
        reads a certificate chain only from files: they live in a private
        temporary directory (in memory where possible) for the duration of
        the load."""
        ctx = ssl.create_default_context()
        if self.cfg.ca_pem:
            ctx.load_verify_locations(cadata=self.cfg.ca_pem)
        # In memory where the system has it (/dev/shm), not on disk.
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix="connhost-mtls-", dir=shm) as d:
            cert_file = os.path.join(d, "cert.pem")
            key_file = os.path.join(d, "key.pem")
            for path, text in ((cert_file, cert_pem), (key_file, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            try:
                # An encrypted key is refused, never prompted for.
                ctx.load_cert_chain(cert_file, key_file, password=lambda: b"")
            except (ssl.SSLError, ValueError):
                raise NetError("invalid-request",
                               "the client certificate and key do not form a usable identity") from None
        return ctx

    def send(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
             timeout_ms: Optional[int],
             identity: Optional[tuple[str, str]] = None) -> tuple[int, list[tuple[str, str]], bytes]:
        """`identity`: a client certificate and key (PEM) to present, on a
        connection of its own (never pooled)."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise NetError("invalid-request", f"only https URLs are allowed, got {parts.scheme}://")
        host = parts.hostname.lower()
        port = parts.port or 443
        for name, _ in headers:
            if name.lower() in policy.RESERVED_HEADERS:
                raise NetError("invalid-request", f"header `{name.lower()}` is set by the host")
        budget = min(timeout_ms or self.cfg.timeout_ms, self.cfg.max_timeout_ms) / 1000.0
        deadline = time.monotonic() + budget

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NetError("timeout", f"https://{host} did not answer within {int(budget * 1000)} ms")
            return remaining

        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        addr = self._address(host, port)
        key = (host, port, addr)
        tls = self._identity_context(*identity) if identity else self.tls
        conn = None if identity else self._take(key)
        reused = conn is not None
        if conn is None:
            conn = _Connection(host, port, addr, context=tls, timeout=left())
        keep = False
        try:
            try:
                resp = self._exchange(conn, host, port, method, path, headers, body, left)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                # A kept-alive connection the provider closed meanwhile.
                if not reused or method not in IDEMPOTENT:
                    raise
                conn.close()
                conn = _Connection(host, port, addr, context=tls, timeout=left())
                resp = self._exchange(conn, host, port, method, path, headers, body, left)
            out = bytearray()
            cap = self.cfg.max_body_bytes
            while True:
                if conn.sock is not None:
                    conn.sock.settimeout(left())
                chunk = resp.read1(64 * 1024)
                if not chunk:
                    break
                if len(out) + len(chunk) > cap:
                    raise NetError("too-large", f"response body over {cap} bytes", cap)
                out += chunk
            resp_headers = [(k.lower(), v) for k, v in resp.getheaders()]
            keep = not resp.will_close and identity is None
            # Read whole: closing it readies the connection for the next.
            resp.close()
            return resp.status, resp_headers, bytes(out)
        except NetError:
            raise
        except (socket.timeout, TimeoutError):
            raise NetError("timeout", f"https://{host} did not answer within {int(budget * 1000)} ms") from None
        except ssl.SSLError as e:
            raise NetError("network", f"TLS with {host}:{port}: {e.reason or e}") from None
        except (OSError, http.client.HTTPException) as e:
            raise NetError("network", f"request to {host}: {e}") from None
        finally:
            if keep:
                self._put(key, conn)
            else:
                conn.close()

    @staticmethod
    def _exchange(conn: _Connection, host: str, port: int, method: str, path: str,
                  headers: list[tuple[str, str]], body: bytes,
                  left: "Callable[[], float]") -> http.client.HTTPResponse:
        conn.timeout = left()
        if conn.sock is not None:
            conn.sock.settimeout(conn.timeout)
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", host if port == 443 else f"{host}:{port}")
        conn.putheader("user-agent", "connhost-python/0.1.0")
        for name, value in headers:
            if "\r" in value or "\n" in value:
                raise NetError("invalid-request", f"bad value for header `{name.lower()}`")
            conn.putheader(name.lower(), value)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body or None)
        if conn.sock is not None:
            conn.sock.settimeout(left())
        return conn.getresponse()
