"""How `dcgan serve` speaks HTTP: uvicorn's h11 protocol, with the bounds uvicorn leaves open closed.

- A request's head (its line and headers) may take at most MAX_REQUEST_HEAD bytes. uvicorn's default httptools
  parser buffers a head without limit; h11 refuses one still incomplete past this size.
- A request must arrive whole (head and body) within `request_seconds` of the connection opening or of the last
  response on it. uvicorn gives a request no deadline, so a client could hold connections open by sending a byte
  now and then (a "slowloris"); here each is closed when its time is up. A WebSocket is exempt once upgraded: its
  messages are bounded in size (WS_MAX_MESSAGE) and the live feed sends heartbeats.
- At most `max_connections` connections (HTTP and WebSocket together) are served at once: a request on one more is
  answered 503 and its connection closed (uvicorn's limit_concurrency; it sets none by default). With the
  deadline above, a flood of connections frees each within `request_seconds`, and the count stays below the
  process's usual open-file limit (1024), so the server's own files still open.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

WS_MAX_MESSAGE = 64 * 1024  # clients only send tiny messages (the server ignores them)
# Browsers send a few KiB: a request can make the server hold this plus one read from the socket (256 KiB).
MAX_REQUEST_HEAD = 64 * 1024
REQUEST_SECONDS = 20.0  # nginx's client_header_timeout is 60 s; the dashboard's requests are small
# A browser tab holds up to 6 HTTP connections and one WebSocket; Settings.max_clients (64) feeds 64 tabs live.
MAX_CONNECTIONS = 512


class RequestDeadline(H11Protocol):
    """h11 that closes a connection whose request has not arrived whole within `request_seconds`."""

    request_seconds = REQUEST_SECONDS
    _deadline: asyncio.TimerHandle | None = None
    _waiting_since: Any = None  # the request/response cycle before the one the deadline waits for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_since = self.cycle
        self._deadline = self.loop.call_later(self.request_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        # A new request whose body has arrived in full (or that had none) meets the deadline.
        if self._deadline is not None and self.cycle is not self._waiting_since and not self.cycle.more_body:
            self._disarm()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._disarm()  # the connection is a WebSocket from here on
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm()  # the next request on a kept-alive connection gets its own time
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (a head over MAX_REQUEST_HEAD, a malformed line or header) is answered in the
        API's error shape, as JSON, instead of uvicorn's plain text; the connection is closed after it."""
        body = json.dumps({"detail": f"the request is not valid HTTP/1.1 ({msg.rstrip('.')}: a malformed line or "
                                     f"header, or a head over {MAX_REQUEST_HEAD // 1024} KiB)", "errors": []})
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body.encode()), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class RefusalsOnceAMinute(logging.Filter):
    """uvicorn logs every request it refuses beyond the connection limit: a flood of them would fill the terminal
    (or the disk it is written to). Said once a minute instead, in words."""

    def __init__(self) -> None:
        super().__init__()
        self.said = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "Exceeded concurrency limit.":
            return True
        if time.monotonic() - self.said < 60:
            return False
        self.said = time.monotonic()
        record.msg, record.args = ("requests are refused with 503: the server already holds as many connections as "
                                   "it serves at once (said at most once a minute)"), ()
        return True


def server_config(app: Any, request_seconds: float = REQUEST_SECONDS, max_connections: int = MAX_CONNECTIONS,
                  **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the dashboard (`dcgan serve` and the tests' servers alike)."""
    protocol = type("RequestDeadline", (RequestDeadline,), {"request_seconds": request_seconds})
    config = uvicorn.Config(app, log_level="warning", access_log=False, ws_max_size=WS_MAX_MESSAGE, http=protocol,
                            h11_max_incomplete_event_size=MAX_REQUEST_HEAD, limit_concurrency=max_connections,
                            **options)
    errors = logging.getLogger("uvicorn.error")  # configured by uvicorn.Config, which keeps a logger's filters
    if not any(isinstance(f, RefusalsOnceAMinute) for f in errors.filters):
        errors.addFilter(RefusalsOnceAMinute())
    return config
