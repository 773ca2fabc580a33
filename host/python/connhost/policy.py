"""The host's outbound policy, the same rules as the Rust host's
(`host/policy`, `host/src/capabilities/http.rs`): an allowlist of exact
https origins expanded from the manifest's host templates (deny by
default), secrets attached by name, RFC 6749 section 2.3.1 Basic encoding,
and headers only the host may set."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional
from urllib.parse import urlsplit

#: Headers the host sets itself; a component may not.
RESERVED_HEADERS = frozenset(
    ["host", "content-length", "transfer-encoding", "connection", "upgrade",
     "te", "trailer", "proxy-authorization", "keep-alive"]
)

_HOST_CHARS = re.compile(r"^[A-Za-z0-9.-]+$")
_TEMPLATE_VAR = re.compile(r"\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class Origin:
    host: str
    port: int

    def __str__(self) -> str:
        return f"https://{self.host}" if self.port == 443 else f"https://{self.host}:{self.port}"


def origin_of(url: str) -> Optional[Origin]:
    """The https origin of `url`, or None when it is not an https URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    return Origin(parts.hostname.lower(), port or 443)


def parse_origin(text: str) -> Origin:
    """A bare `https://host[:port]` origin (no path, query, user info)."""
    try:
        parts = urlsplit(text)
        parts.port
    except ValueError as e:
        raise ValueError(f"`{text}`: {e}") from None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValueError(f"`{text}`: must be https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"`{text}`: must be a bare origin (no path or query)")
    origin = origin_of(text)
    assert origin is not None
    return origin


class Allowlist:
    """Exact origins a connection may call; everything else is refused."""

    def __init__(self, origins: Iterable[Origin] = ()) -> None:
        self.origins: list[Origin] = list(dict.fromkeys(origins))

    @classmethod
    def from_templates(cls, templates: Iterable[str], fields: Mapping[str, str]) -> "Allowlist":
        """Expands each template with `fields`. A value may hold host-name
        characters only, so it cannot smuggle in a path, port, user info or
        a second host; a template naming a missing or bad value gives
        nothing."""
        out = []
        for template in templates:
            bad = False

            def value(m: re.Match[str]) -> str:
                nonlocal bad
                v = fields.get(m.group(1), "")
                if not _HOST_CHARS.match(v):
                    bad = True
                return v

            expanded = _TEMPLATE_VAR.sub(value, template)
            if bad:
                continue
            try:
                out.append(parse_origin(expanded))
            except ValueError:
                continue
        return cls(out)

    def add(self, origins: Iterable[str]) -> None:
        for o in origins:
            origin = parse_origin(o)
            if origin not in self.origins:
                self.origins.append(origin)

    def allows(self, url: str) -> bool:
        origin = origin_of(url)
        return origin is not None and origin in self.origins


def form_encode(text: str) -> str:
    """application/x-www-form-urlencoded, byte for byte as the WHATWG
    serializer (and Rust's `form_urlencoded`) writes it."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "*-._"):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def form_body(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{form_encode(k)}={form_encode(v)}" for k, v in pairs)


def basic_header(username: str, password: str, form_urlencoded: bool = True) -> str:
    """`Basic base64(id:secret)`; RFC 6749 section 2.3.1 encodes each part
    first (the default), `raw` sends them as they are."""
    if form_urlencoded:
        username, password = form_encode(username), form_encode(password)
    token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


def append_query(url: str, pair: str) -> str:
    """`url` with `name=value` (already form-encoded) added to its query,
    before any fragment, as Rust's `query_pairs_mut().append_pair`."""
    base, hash_, fragment = url.partition("#")
    if "?" in base:
        base += pair if base.endswith("?") else "&" + pair
    else:
        base += "?" + pair
    return base + hash_ + fragment


#: Extra credentials one request may carry (`send-with`, `add-credentials`).
MAX_EXTRA_CREDENTIALS = 8


class RequestError(ValueError):
    """A request the host refuses to send: the http import's `invalid-request`."""


@dataclass(frozen=True)
class Credential:
    """A credential beyond a request's `auth` (contract 0.3.1,
    `http.credential`): `kind` is `header` (`name`, `prefix`, `secret`),
    `query` (`name`, `secret`), `basic` (`username_secret`, optional
    `password_secret`) or `json` (`pointer`, `secret`)."""
    kind: str
    name: str = ""
    prefix: str = ""
    secret: str = ""
    username_secret: str = ""
    password_secret: Optional[str] = None
    pointer: str = ""


def attach_extra(url: str, headers: list[tuple[str, str]], body: bytes,
                 extra: Iterable[Credential], secret: Callable[[str], str]
                 ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Adds `extra` credentials to a request whose `auth` is attached, as
    the Rust host's `attach_extra`: another header or query value; Basic
    from secrets (raw, an empty password when none, replacing any
    authorization header); a secret as a string member of the JSON body at
    an RFC 6901 pointer whose parent is an object. `secret(name)` returns
    the value or raises (a missing secret is named). Raises RequestError."""
    headers = list(headers)
    for c in extra:
        if c.kind == "header":
            if c.name.lower() == "host" or any(b <= 0x20 or b == 0x3A for b in c.name.encode("utf-8")):
                raise RequestError(f"bad header name `{c.name}`")
            headers.append((c.name, c.prefix + secret(c.secret)))
        elif c.kind == "query":
            url = append_query(url, f"{form_encode(c.name)}={form_encode(secret(c.secret))}")
        elif c.kind == "basic":
            user = secret(c.username_secret)
            if ":" in user:
                raise RequestError(f"secret `{c.username_secret}` holds `:`, which a Basic user "
                                   "name cannot (RFC 7617)")
            password = "" if c.password_secret is None else secret(c.password_secret)
            headers = [h for h in headers if h[0].lower() != "authorization"]
            headers.append(("authorization", basic_header(user, password, False)))
        elif c.kind == "json":
            body = _json_with_secret(body, c.pointer, lambda: secret(c.secret))
        else:
            raise RequestError(f"unknown credential kind `{c.kind}`")
    return url, headers, body


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _resolve_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901 evaluation as serde_json's `pointer_mut` (None: nothing there)."""
    if pointer == "":
        return doc
    if not pointer.startswith("/"):
        return None
    target = doc
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict):
            if token not in target:
                return None
            target = target[token]
        elif isinstance(target, list):
            if not re.fullmatch(r"0|[1-9][0-9]*", token) or int(token) >= len(target):
                return None
            target = target[int(token)]
        else:
            return None
    return target


def _json_with_secret(body: bytes, pointer: str, value: Callable[[], str]) -> bytes:
    try:
        doc = json.loads(bytes(body).decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise RequestError(f"a json credential needs a JSON body: {e}") from None
    parent, slash, key = pointer.rpartition("/")
    if not slash:
        raise RequestError(f"`{pointer}` is not a JSON pointer")
    key = key.replace("~1", "/").replace("~0", "~")
    obj = _resolve_pointer(doc, parent)
    if not isinstance(obj, dict):
        raise RequestError(f"the JSON body has no object at `{parent}` for `{pointer}`")
    obj[key] = value()
    # As the Rust host writes it: compact, object keys in order.
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def is_public(address: str) -> bool:
    """Whether a resolved address may be reached (no loopback, private,
    link-local, ... addresses): the same refusal the Rust host makes."""
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


REDACTED = "[redacted]"
_B64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{8,}")


def scrub(text: str, values: "Iterable[str]") -> str:
    """`text` with each secret value taken out: as is, form-encoded, and
    inside base64 (a Basic header a provider echoed), as the Rust host's
    `SecretScope::scrub` does. Values shorter than 6 characters are kept."""
    import base64
    from urllib.parse import quote_plus
    forms: list[str] = []
    for v in values:
        if v and len(v) >= 6:
            enc = quote_plus(v, safe="*-._")
            forms += [v, enc.replace("+", "%20"), enc]
    if not forms:
        return text
    forms = sorted(set(forms), key=len, reverse=True)
    for f in forms:
        text = text.replace(f, REDACTED)

    def decoded_holds(run: str) -> bool:
        core = run.rstrip("=")
        for alt in (None, b"-_"):
            try:
                pad = core + "=" * (-len(core) % 4)
                raw = base64.b64decode(pad, altchars=alt, validate=True)
            except Exception:
                continue
            d = raw.decode("utf-8", "replace")
            if any(f in d for f in forms):
                return True
        return False

    return _B64_RUN.sub(lambda m: REDACTED if decoded_holds(m.group(0)) else m.group(0), text)
