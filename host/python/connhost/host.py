"""Loads a connector component and runs its exports with the host's
imports (`http`, `secrets`, `signing`, `log`) under the same guarantees as
the Rust host: a fresh instance per call, a deadline and a memory cap on
the guest, outbound requests only to the connection's allowlist with
secrets attached by name, signatures made with secrets by name (their
values never enter the component).

The imports are defined at contract 0.3.2; wasmtime resolves them by
semver, so 0.3.0 and 0.3.1 components load unchanged."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol
from urllib.parse import urlsplit

import wasmtime
from wasmtime import component as wc

from . import policy, signing
from .net import HttpsClient, NetConfig, NetError

CONTRACT = "connhost:connector@0.3.2"
#: The export, newest first (a 0.3.0 component exports the older name).
_EXPORTS = (
    "connhost:connector/connector@0.3.2",
    "connhost:connector/connector@0.3.1",
    "connhost:connector/connector@0.3.0",
)
_log = logging.getLogger("connhost")


class ConnectorError(Exception):
    """A connector-error from the contract: `kind` is its case
    (`unauthorized`, `account-validation`, ...), `payload` its value."""

    def __init__(self, kind: str, payload: Any = None) -> None:
        self.kind = kind
        self.payload = payload
        super().__init__(f"{kind}: {payload}")


class SecretStore(Protocol):
    """Where a connection's secrets live; the caller's own store plugs in."""

    def get(self, name: str) -> Optional[str]: ...
    def set(self, name: str, value: str) -> None: ...
    def remove(self, name: str) -> None: ...
    def names(self) -> list[str]: ...


class MemorySecrets:
    """An in-memory secret store; `repr` never shows values."""

    def __init__(self, values: Optional[Mapping[str, str]] = None) -> None:
        self._values = dict(values or {})

    def get(self, name: str) -> Optional[str]:
        return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        self._values[name] = value

    def remove(self, name: str) -> None:
        self._values.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._values)

    def __repr__(self) -> str:
        return f"MemorySecrets(names={self.names()})"


@dataclass
class Connection:
    id: str
    fields: dict[str, str] = field(default_factory=dict)
    granted_scopes: list[str] = field(default_factory=list)
    expires_at: Optional[int] = None
    #: Origins the platform approved for the stored definition this
    #: connection uses (what a `{definition}` origin pattern allows).
    definition_origins: list[str] = field(default_factory=list)


@dataclass
class Verification:
    account_label: str


@dataclass
class ConnectionState:
    granted_scopes: list[str]
    expires_at: Optional[int]
    fields: dict[str, str]


@dataclass
class RefreshOutcome:
    """`refreshed` holds the new state, or `not_needed` the reason."""
    refreshed: Optional[ConnectionState] = None
    not_needed: Optional[str] = None


@dataclass
class Authorization:
    url: str
    fields: dict[str, str]


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Call:
    """What the imports of one call work on."""
    allowlist: policy.Allowlist
    secrets: SecretStore
    connection: str
    #: `add-credentials` of this call, for the request
    #: `authenticate-request` returns.
    staged: list[policy.Credential] = field(default_factory=list)


def _rec(**values: Any) -> wc.Record:
    r = wc.Record()
    for k, v in values.items():
        setattr(r, k.replace("_", "-"), v)
    return r


def _get(r: Any, name: str) -> Any:
    return getattr(r, name.replace("_", "-"))


def _error(payload: Any, values: Iterable[str] = ()) -> ConnectorError:
    """A lifted connector-error (a `Variant`) as the exception, with the
    connection's secret values taken out of its text: providers repeat
    what they were sent."""
    values = list(values)
    clean = (lambda t: policy.scrub(t, values)) if values else (lambda t: t)
    kind, val = payload.tag, payload.payload
    if kind == "invalid-input":
        val = {"field": clean(_get(val, "field")), "reason": clean(_get(val, "reason"))}
    elif kind == "provider-error":
        val = {"status": _get(val, "status"), "message": clean(_get(val, "message"))}
    elif isinstance(val, str):
        val = clean(val)
    elif isinstance(val, list):
        val = [clean(v) if isinstance(v, str) else v for v in val]
    return ConnectorError(kind, val)


def _unwrap(value: Any, secrets: Optional["SecretStore"] = None) -> Any:
    """A lifted `result<T, connector-error>`: wasmtime-py tags it only
    when its cases' Python types clash, so both shapes are handled."""
    values: list[str] = []
    if secrets is not None:
        values = [v for v in (secrets.get(n) for n in secrets.names()) if v]
    if isinstance(value, wc.Variant) and value.tag in ("ok", "err"):
        if value.tag == "err":
            raise _error(value.payload, values)
        return value.payload
    if isinstance(value, wc.Variant):
        raise _error(value, values)
    return value


def _credential(c: Any) -> policy.Credential:
    """A lifted `http.credential` (a `Variant` of a record)."""
    tag, v = c.tag, c.payload
    if tag == "header":
        return policy.Credential("header", name=_get(v, "name"), prefix=_get(v, "prefix"),
                                 secret=_get(v, "secret"))
    if tag == "query":
        return policy.Credential("query", name=_get(v, "name"), secret=_get(v, "secret"))
    if tag == "basic":
        return policy.Credential("basic", username_secret=_get(v, "username_secret"),
                                 password_secret=_get(v, "password_secret"))
    if tag == "json":
        return policy.Credential("json", pointer=_get(v, "pointer"), secret=_get(v, "secret"))
    return policy.Credential(str(tag))


def _state(s: Any) -> ConnectionState:
    return ConnectionState(
        granted_scopes=list(_get(s, "granted_scopes")),
        expires_at=_get(s, "expires_at"),
        fields=dict(_get(s, "fields")),
    )


class Connector:
    """A loaded connector component. `Connector.load(path)`; each call
    takes the connection and its secret store."""

    def __init__(self, engine: wasmtime.Engine, comp: wc.Component, net: NetConfig,
                 call_timeout_ms: int, max_memory_bytes: int,
                 logger: Optional[Callable[[str, str], None]]) -> None:
        self._engine = engine
        self._component = comp
        self._client = HttpsClient(net)
        self._call_timeout = call_timeout_ms / 1000.0
        self._max_memory = max_memory_bytes
        self._logger = logger
        self._call: Optional[_Call] = None
        self._lock = threading.RLock()
        self._linker = self._link()
        self._manifest: Optional[dict[str, Any]] = None

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ca_pem: Optional[str] = None,
             connect_to: Optional[Mapping[str, str]] = None, max_body_bytes: int = 4 << 20,
             timeout_ms: int = 30_000, max_timeout_ms: int = 120_000,
             call_timeout_ms: int = 30_000, max_memory_bytes: int = 64 << 20,
             cache_dir: Optional[str | os.PathLike[str]] = None,
             logger: Optional[Callable[[str, str], None]] = None) -> "Connector":
        """Compiles (or loads from the cache) the component at `path`."""
        config = wasmtime.Config()
        config.epoch_interruption = True
        engine = wasmtime.Engine(config)
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data + f"|wasmtime-py {wasmtime.__version__ if hasattr(wasmtime, '__version__') else ''}".encode()).hexdigest()
        cache = Path(cache_dir or Path(tempfile.gettempdir()) / "connhost-python") / f"{digest}.cwasm"
        comp = None
        if cache.exists():
            try:
                comp = wc.Component.deserialize(engine, cache.read_bytes())
            except Exception:
                comp = None
        if comp is None:
            comp = wc.Component(engine, data)
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(comp.serialize())
                os.replace(tmp, cache)
            except OSError:
                pass
        net = NetConfig(ca_pem=ca_pem, connect_to=dict(connect_to or {}),
                        max_body_bytes=max_body_bytes, timeout_ms=timeout_ms,
                        max_timeout_ms=max_timeout_ms)
        return cls(engine, comp, net, call_timeout_ms, max_memory_bytes, logger)

    # ---- imports ----

    def _link(self) -> wc.Linker:
        linker = wc.Linker(self._engine)
        linker.add_wasip2()
        with linker.root() as root:
            with root.add_instance("connhost:connector/http@0.3.2") as http:
                http.add_func("send", lambda _store, req: self._send(req, []))
                http.add_func("send-with", lambda _s, req, extra: self._send(req, extra))
                http.add_func("add-credentials", lambda _s, extra: self._add_credentials(extra))
                http.add_func("send-mtls", lambda _s, req, extra, identity:
                              self._send(req, extra, identity))
            with root.add_instance("connhost:connector/secrets@0.3.2") as secrets:
                secrets.add_func("has", lambda _s, name: self._scope().get(name) is not None)
                secrets.add_func("set", lambda _s, name, value: self._scope().set(name, value))
                secrets.add_func("remove", lambda _s, name: self._scope().remove(name))
                secrets.add_func("reveal", lambda _s, name: self._reveal(name))
            with root.add_instance("connhost:connector/signing@0.3.2") as sig:
                sig.add_func("sign", lambda _s, secret, algorithm, message:
                             self._sign(secret, algorithm, message))
                sig.add_func("sign-sigv4", lambda _s, secret, date, region, service, sts:
                             self._sign_sigv4(secret, date, region, service, sts))
                sig.add_func("sign-oauth1", lambda _s, algorithm, consumer, token, base:
                             self._sign_oauth1(algorithm, consumer, token, base))
            with root.add_instance("connhost:connector/log@0.3.2") as log:
                log.add_func("log", lambda _s, level, message: self._log(level, message))
        return linker

    def _scope(self) -> SecretStore:
        assert self._call is not None, "an import ran outside a call"
        return self._call.secrets

    def _reveal(self, name: str) -> Optional[str]:
        # Recorded by name only.
        _log.info("secret %s revealed to connector", name)
        return self._scope().get(name)

    def _log(self, level: Any, message: str) -> None:
        level = level if isinstance(level, str) else getattr(level, "tag", str(level))
        if self._logger is not None:
            self._logger(level, message)

    def _sign(self, secret: str, algorithm: Any, message: bytes) -> Any:
        algorithm = algorithm if isinstance(algorithm, str) else getattr(algorithm, "tag", str(algorithm))
        try:
            out = signing.sign_with_secret(self._scope().get, secret, algorithm, bytes(message))
        except signing.SigningError as e:
            return wc.Variant(e.tag, e.val)
        _log.debug("secret %s used to sign (%s)", secret, algorithm)
        return out

    def _sign_sigv4(self, secret: str, date: str, region: str, service: str,
                    string_to_sign: str) -> Any:
        try:
            out = signing.sigv4_with_secret(self._scope().get, secret, date, region, service,
                                            string_to_sign)
        except signing.SigningError as e:
            return wc.Variant(e.tag, e.val)
        _log.debug("secret %s used to sign (sigv4)", secret)
        return out

    def _sign_oauth1(self, algorithm: Any, consumer: str, token: Optional[str],
                     base: str) -> Any:
        algorithm = algorithm if isinstance(algorithm, str) else getattr(algorithm, "tag", str(algorithm))
        try:
            out = signing.oauth1_with_secrets(self._scope().get, algorithm, consumer, token, base)
        except signing.SigningError as e:
            return wc.Variant(e.tag, e.val)
        _log.debug("secrets %s and %s used to sign (oauth1)", consumer, token)
        return out

    def _add_credentials(self, extra: list[Any]) -> None:
        call = self._call
        assert call is not None, "an import ran outside a call"
        # Bounded: a component cannot grow host memory through this list.
        if len(call.staged) + len(extra) > policy.MAX_EXTRA_CREDENTIALS:
            raise ConnectorError("plugin", "the connector trapped: add-credentials: more than "
                                 f"{policy.MAX_EXTRA_CREDENTIALS} credentials")
        call.staged.extend(_credential(c) for c in extra)

    def _send(self, req: Any, extra: list[Any], identity: Any = None) -> Any:
        try:
            if len(extra) > policy.MAX_EXTRA_CREDENTIALS:
                raise NetError("invalid-request",
                               f"more than {policy.MAX_EXTRA_CREDENTIALS} extra credentials")
            return self._send_checked(req, [_credential(c) for c in extra], identity)
        except NetError as e:
            payload = e.cap if e.kind == "too-large" else str(e)
            return wc.Variant(e.kind, payload)

    def _identity(self, identity: Any) -> tuple[str, str]:
        """0.3.2 `send-mtls`: the certificate and key from secrets, checked
        as the Rust host does (named, never shown)."""
        cert_name = _get(identity, "certificate_secret")
        key_name = _get(identity, "key_secret")
        secrets = self._scope()
        cert, key = secrets.get(cert_name), secrets.get(key_name)
        for name, value in ((cert_name, cert), (key_name, key)):
            if value is None:
                raise NetError("invalid-request", f"secret `{name}` is not set")
        names = f"secrets `{cert_name}` and `{key_name}`"
        if "-----BEGIN CERTIFICATE-----" not in cert:
            raise NetError("invalid-request", f"{names}: the certificate holds no `BEGIN CERTIFICATE` block")
        if not any(f"-----BEGIN {k}PRIVATE KEY-----" in key for k in ("", "RSA ", "EC ")):
            raise NetError("invalid-request",
                           f"{names}: the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)")
        return cert, key

    def _send_checked(self, req: Any, extra: Iterable[policy.Credential] = (),
                      identity: Any = None) -> Any:
        call = self._call
        assert call is not None
        url = _get(req, "url")
        if not call.allowlist.allows(url):
            origin = policy.origin_of(url)
            raise NetError("denied-host", str(origin) if origin else url)
        secrets = call.secrets
        # After the allowlist, as the Rust and JS hosts check.
        pems = self._identity(identity) if identity is not None else None

        def secret(name: str) -> str:
            value = secrets.get(name)
            if value is None:
                raise NetError("invalid-request", f"secret `{name}` is not set")
            return value

        headers = [tuple(h) for h in _get(req, "headers")]
        auth = _get(req, "auth")
        tag = auth.tag if isinstance(auth, wc.Variant) else "none"
        if tag == "header":
            h = auth.payload
            headers.append((_get(h, "name"), _get(h, "prefix") + secret(_get(h, "secret"))))
        elif tag == "basic":
            b = auth.payload
            encoding = _get(b, "encoding")
            raw = (encoding if isinstance(encoding, str) else getattr(encoding, "tag", "")) == "raw"
            headers.append(("authorization", policy.basic_header(
                _get(b, "username"), secret(_get(b, "password_secret")), not raw)))
        elif tag == "query":
            q = auth.payload
            pair = policy.form_body([(_get(q, "name"), secret(_get(q, "secret")))])
            url = policy.append_query(url, pair)
        body = _get(req, "body")
        if body is None:
            data = b""
        elif isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, list):
            pairs = []
            for name, value in body:
                if isinstance(value, wc.Variant) and value.tag == "secret":
                    pairs.append((name, secret(value.payload)))
                else:
                    pairs.append((name, value.payload if isinstance(value, wc.Variant) else value))
            data = policy.form_body(pairs).encode("ascii")
            headers = [h for h in headers if h[0].lower() != "content-type"]
            headers.append(("content-type", "application/x-www-form-urlencoded"))
        else:
            data = bytes(getattr(body, "payload", b"") or b"")
        # 0.3.1: credentials after `auth` (`send-with`, `add-credentials`).
        try:
            url, headers, data = policy.attach_extra(url, headers, data, extra, secret)
        except policy.RequestError as e:
            raise NetError("invalid-request", str(e)) from None
        method = _get(req, "method")
        method = (method if isinstance(method, str) else method.tag).upper()
        status, resp_headers, resp_body = self._client.send(
            method, url, headers, data, _get(req, "timeout_ms"), pems)
        return _rec(status=status, headers=resp_headers, body=resp_body)

    # ---- calls ----

    def _run(self, connection: Optional[Connection], secrets: Optional[SecretStore],
             fn: str, *args: Any, origins_first: bool = False,
             then: Optional[Callable[[Any], Any]] = None) -> Any:
        """One export call in a fresh instance; the imports see this
        connection's allowlist and secrets only. `then` runs on the result
        under the same call (the same allowlist, `allowed-origins` included)."""
        fields = connection.fields if connection else {}
        hosts = self.manifest()["hosts"] if fn != "manifest" else []
        with self._lock:
            call = _Call(policy.Allowlist.from_templates(hosts, fields),
                         secrets if secrets is not None else MemorySecrets(),
                         connection.id if connection else "")
            store = wasmtime.Store(self._engine)
            store.set_wasi(wasmtime.WasiConfig())
            store.set_limits(memory_size=self._max_memory)
            store.set_epoch_deadline(1)
            timer = threading.Timer(self._call_timeout, self._engine.increment_epoch)
            timer.daemon = True
            self._call = call
            timer.start()
            try:
                instance = self._linker.instantiate(store, self._component)
                iface = next((i for i in (instance.get_export_index(store, name)
                                          for name in _EXPORTS) if i is not None), None)
                if iface is None:
                    raise ConnectorError("plugin", "the component exports no "
                                         "`connhost:connector/connector` 0.3.x")
                if origins_first and connection is not None:
                    self._allow_origins(store, instance, iface, connection, call)
                func = instance.get_func(store, instance.get_export_index(store, fn, iface))
                result = func(store, *args)
                func.post_return(store)
                return then(result) if then is not None else result
            except wasmtime.Trap as e:
                raise ConnectorError("plugin", f"the connector trapped: {e.message}") from None
            finally:
                timer.cancel()
                self._call = None

    def _allow_origins(self, store: Any, instance: Any, iface: Any,
                       connection: Connection, call: _Call) -> None:
        func = instance.get_func(store, instance.get_export_index(store, "allowed-origins", iface))
        origins = _unwrap(func(store, self._input(connection)))
        func.post_return(store)
        if origins:
            patterns = self.manifest()["origin_patterns"]
            for o in origins:
                parsed = policy.parse_origin(o)
                if not any(_pattern_allows(p, parsed, connection) for p in patterns):
                    raise ConnectorError("denied-host", str(parsed))
            call.allowlist.add(origins)

    @staticmethod
    def _input(c: Connection) -> wc.Record:
        return _rec(id=c.id, fields=list(c.fields.items()),
                    granted_scopes=list(c.granted_scopes), expires_at=c.expires_at)

    def manifest(self) -> dict[str, Any]:
        """The connector's manifest, snake_case keys."""
        if self._manifest is None:
            m = self._run(None, None, "manifest")
            self._manifest = {
                "id": m.id, "display_name": _get(m, "display_name"), "version": m.version,
                "auth_field": _get(m, "auth_field"), "hosts": list(m.hosts),
                "scopes": [s.name for s in m.scopes],
                "origin_patterns": list(_get(m, "origin_patterns")),
                "token_secrets": list(_get(m, "token_secrets")),
            }
        return dict(self._manifest)

    def create(self, connection: Connection, secrets: SecretStore) -> ConnectionState:
        return _state(_unwrap(self._run(connection, secrets, "create", self._input(connection),
                                        origins_first=True), secrets))

    def verify(self, connection: Connection, secrets: SecretStore) -> Verification:
        v = _unwrap(self._run(connection, secrets, "verify", self._input(connection),
                              origins_first=True), secrets)
        return Verification(account_label=_get(v, "account_label"))

    def refresh(self, connection: Connection, secrets: SecretStore) -> RefreshOutcome:
        o = _unwrap(self._run(connection, secrets, "refresh", self._input(connection),
                              origins_first=True), secrets)
        if isinstance(o, str):
            return RefreshOutcome(not_needed=o)
        if isinstance(o, wc.Variant):
            return (RefreshOutcome(not_needed=o.payload) if o.tag == "not-needed"
                    else RefreshOutcome(refreshed=_state(o.payload)))
        return RefreshOutcome(refreshed=_state(o))

    def validate_scopes(self, required: Iterable[str], granted: Iterable[str]) -> None:
        _unwrap(self._run(None, None, "validate-scopes", list(required), list(granted)))

    def authorize_url(self, connection: Connection, secrets: SecretStore, *, redirect_uri: str,
                      state: str, code_challenge: str, scopes: Iterable[str] = ()) -> Authorization:
        req = _rec(redirect_uri=redirect_uri, state=state, code_challenge=code_challenge,
                   scopes=list(scopes))
        a = _unwrap(self._run(connection, secrets, "authorize-url", self._input(connection), req,
                              origins_first=True), secrets)
        return Authorization(url=a.url, fields=dict(a.fields))

    def exchange_code(self, connection: Connection, secrets: SecretStore, *, code: str,
                      redirect_uri: str, code_verifier: str,
                      requested_scopes: Iterable[str] = ()) -> ConnectionState:
        ex = _rec(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier,
                  requested_scopes=list(requested_scopes))
        return _state(_unwrap(self._run(connection, secrets, "exchange-code",
                                        self._input(connection), ex, origins_first=True), secrets))

    def revoke(self, connection: Connection, secrets: SecretStore) -> None:
        _unwrap(self._run(connection, secrets, "revoke", self._input(connection),
                          origins_first=True), secrets)

    def allowed_origins(self, connection: Connection, secrets: SecretStore) -> list[str]:
        return list(_unwrap(self._run(connection, secrets, "allowed-origins",
                                      self._input(connection)), secrets))

    def request(self, connection: Connection, secrets: SecretStore, method: str, url: str,
                headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                timeout_ms: Optional[int] = None) -> Response:
        """A request the platform makes through the connection: the
        connector puts the credentials on (`authenticate-request`), the
        host sends it under the connection's policy. A path (`/api/cloud`)
        goes to the connection's first origin, as in the Rust and
        JavaScript hosts."""
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
            if not url.startswith("/"):
                raise ConnectorError("invalid-input", {
                    "field": "url",
                    "reason": "must be an absolute https:// URL or a path starting with `/`"})
            first = policy.Allowlist.from_templates(self.manifest()["hosts"],
                                                    connection.fields).origins
            if not first:
                raise ConnectorError("invalid-input", {
                    "field": "url",
                    "reason": "this connection has no origin to resolve a path against; "
                              "give an absolute https:// URL"})
            url = f"{first[0]}{url}"
        req = _rec(method=method.lower(), url=url, headers=list(headers),
                   auth=wc.Variant("none"), body=body or None, timeout_ms=timeout_ms)

        def send(result: Any) -> Any:
            # Sent by the host under the call's policy, as the component's
            # own requests are, with what `add-credentials` staged in
            # `authenticate-request`.
            call = self._call
            assert call is not None
            extra, call.staged = call.staged, []
            try:
                return self._send_checked(_unwrap(result, call.secrets), extra)
            except NetError as e:
                # As the Rust host's `ConnectorInstance::send` maps them.
                kind = {"too-large": "network", "invalid-request": "invalid-input"}.get(
                    e.kind, e.kind)
                payload = ({"field": "request", "reason": str(e)} if kind == "invalid-input"
                           else str(e))
                raise ConnectorError(kind, payload) from None

        sent = self._run(connection, secrets, "authenticate-request", self._input(connection),
                         req, origins_first=True, then=send)
        return Response(status=sent.status, headers=list(sent.headers), body=bytes(sent.body))


def _pattern_allows(pattern: str, origin: policy.Origin, connection: Connection) -> bool:
    """An `origin-patterns` entry: `https://host[:port]`,
    `https://*.domain.tld[:port]`, `{definition}` (the connection's
    approved definition origins and patterns), `{field:NAME}` (the host
    in that field; `{resource:NAME}` likewise, the RFC 9728 step being the
    embedding platform's here). `{issuer}` is not supported here."""
    if pattern == "{definition}":
        return any(_pattern_allows(o, origin, connection) for o in connection.definition_origins
                   if o not in ("{definition}", "{issuer}"))
    for prefix in ("{field:", "{resource:"):
        if pattern.startswith(prefix) and pattern.endswith("}"):
            break
    else:
        prefix = ""
    if prefix:
        value = connection.fields.get(pattern[len(prefix):-1])
        if not value:
            return False
        # A host name or an https URL (a protected resource's), as the Rust
        # host reads it: its origin.
        text = value if value.startswith("https://") else "https://" + value
        try:
            parts = urlsplit(text)
            parts.port
        except ValueError:
            return False
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
            return False
        named = policy.origin_of(text)
        return named is not None and named == origin
    if pattern.startswith("{"):
        return False
    try:
        star = "*." in pattern
        p = policy.parse_origin(pattern.replace("*.", "x.", 1) if star else pattern)
    except ValueError:
        return False
    if p.port != origin.port:
        return False
    if star:
        suffix = p.host[2:]
        return suffix.count(".") >= 1 and origin.host.endswith("." + suffix)
    return p.host == origin.host
