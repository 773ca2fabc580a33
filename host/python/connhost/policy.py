"""The host's outbound policy, the same rules as the Rust host's
(`host/policy`, `host/src/capabilities/http.rs`): an allowlist of exact
https origins expanded from the manifest's host templates (deny by
default), secrets attached by name, RFC 6749 section 2.3.1 Basic encoding,
and headers only the host may set."""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional
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


def is_public(address: str) -> bool:
    """Whether a resolved address may be reached (no loopback, private,
    link-local, ... addresses): the same refusal the Rust host makes."""
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False
