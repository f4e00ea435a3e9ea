"""Who may talk to the server: two ASGI middlewares in front of every HTTP request and WebSocket handshake, with
Starlette's CORSMiddleware between them when the server lets pages of other origins in (`--allow-origin`).

SiteGuard, outermost:
- Host: a loopback server answers only to loopback host names, so a web page elsewhere cannot reach it by
  pointing its own domain at 127.0.0.1 (DNS rebinding).
- Origin: a browser request that changes something (any method but GET/HEAD, CORS preflights included) or opens a
  live feed must come from the dashboard's own origin or one the server allows, so another site open in the same
  browser cannot drive it (CSRF). Other origins are refused before CORS could add a header to the answer.

CORSMiddleware (only with allowed origins) answers an allowed origin's preflight itself, before the token check (a
browser never sends credentials on a preflight) and without reaching any route, and adds
Access-Control-Allow-Origin to that origin's answers, refusals of AccessGuard included, so its page can read them.

AccessGuard, inside:
- Size: a body announced larger than the server's limit is refused with a JSON 413 before it is read; a body
  without a length (chunked) is refused with 411, so no request can stream an unbounded body.
- Token: when the server has one, every request carries it as `Authorization: Bearer <token>` or as the
  `dcgan_token` cookie (HttpOnly, SameSite=Strict, and Secure under TLS). `?token=` is accepted only on the page's
  first load (the URL `dcgan serve` prints): it sets the cookie and redirects to the bare URL, so the token does not
  stay in the address bar, the history or a shared link, and no API URL carries it into logs.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "dcgan_token"
SAFE_METHODS = ("GET", "HEAD")
# What a page of an allowed origin may send: the API's methods, and beyond the CORS-safelisted headers, JSON bodies
# and the token (a test checks the methods against the routes).
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH"]
CORS_HEADERS = ["Authorization", "Content-Type"]
ORIGIN = re.compile(r"(https?)://(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([0-9]{1,5}))?/?", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}
HINTS = 16  # other origins whose first call the log mentions; an unbounded set would grow with every caller
log = logging.getLogger("dcgan.server")


def parse_origin(text: str) -> str:
    """An origin as browsers write it in their Origin header ('HTTP://LocalHost:5173/' -> 'http://localhost:5173');
    ValueError says what is wrong."""
    if "*" in text:
        raise ValueError("a wildcard would let web pages nobody named drive this server from any browser that can "
                         "reach it; name the origin of each page to let in, e.g. http://localhost:5173")
    match = ORIGIN.fullmatch(text.strip())
    if not match or not 0 < int(match.group(3) or 80) <= 65535:
        raise ValueError("an origin is http:// or https://, a host and an optional port, without a path, e.g. "
                         "http://localhost:5173")
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    port = int(port) if port else DEFAULT_PORTS[scheme]
    return f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS[scheme] else f":{port}")


def is_origin(text: str) -> bool:
    """A well-formed origin as a browser writes it (only those reach the log or a suggestion)."""
    try:
        return parse_origin(text) == text
    except ValueError:
        return False


class SiteGuard:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | None, allowed_origins: list[str] = ()):
        self.app = app
        self.allowed_hosts = {h.strip("[]").lower() for h in allowed_hosts} if allowed_hosts is not None else None
        self.allowed_origins = set(allowed_origins)
        self.hinted: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts is not None and hostname(host) not in self.allowed_hosts:
            return await deny(scope, send, 403, f"host {host!r} is not served here; use the URL dcgan serve printed")
        origin = headers.get("origin")
        if not origin or urlsplit(origin).netloc.lower() == host.lower() or origin in self.allowed_origins:
            return await self.app(scope, receive, send)
        let_in = f"dcgan serve --allow-origin {origin}" if is_origin(origin) else None
        if let_in and origin not in self.hinted and len(self.hinted) < HINTS:
            # Said once in the server's log, where the user looks: the page itself cannot read why it failed.
            self.hinted.add(origin)
            log.warning("a page at %s called this server: it may use it once let in with %s (let in only pages you "
                        "trust)", origin, let_in)
        if scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS:
            return await deny(scope, send, 403, f"cross-site request from {origin} refused; use the dashboard "
                                                f"page or a client without an Origin header"
                                                + (f", or let that page in: {let_in}" if let_in else ""))
        return await self.app(scope, receive, send)  # a GET: answered, and the browser keeps it from the page


class AccessGuard:
    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int):
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        length = headers.get("content-length", "0")
        if scope["type"] == "http" and "transfer-encoding" in headers:
            return await deny(scope, send, 411, "send the request body with a Content-Length")
        if scope["type"] == "http" and (not length.isdigit() or int(length) > self.max_body_bytes):
            return await deny(scope, send, 413, f"the request body is larger than {self.max_body_bytes} bytes; "
                                                f"send less")
        if self.token is None:
            return await self.app(scope, receive, send)
        first_load = scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/"
        query_token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        given = bearer(headers) or cookie(headers) or (query_token if first_load else None)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return await deny(scope, send, 401, "this server needs its access token: open the URL dcgan serve "
                                                "printed (with ?token=...) or send 'Authorization: Bearer <token>'")
        if query_token and first_load:
            # Keep the token out of the address bar and history: store it as a cookie and load the page again.
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            cookie_header = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict{secure}"
            return await send_response(send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie_header.encode())])
        return await self.app(scope, receive, send)


def hostname(host_header: str) -> str:
    return (urlsplit("//" + host_header).hostname or "").lower()


def bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def cookie(headers: Headers) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply no token
        return None
    return jar[COOKIE].value if COOKIE in jar else None


async def deny(scope: Scope, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting refuses the handshake: the client sees HTTP 403.
        return await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
    body = json.dumps({"detail": message, "errors": []}).encode()
    await send_response(send, status, body, [(b"content-type", b"application/json")])


async def send_response(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def is_loopback(host: str) -> bool:
    """Whether a --host binds to this machine alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_hosts() -> list[str]:
    """Host header values of a loopback server (Starlette compares the host without its port)."""
    return ["localhost", "127.0.0.1", "[::1]", "::1"]
