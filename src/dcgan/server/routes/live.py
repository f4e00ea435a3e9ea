"""The live feed: one WebSocket per page. The first message is a hello with the whole current state and history;
then metrics, status, log lines, sample grids, checkpoints and epoch ends as they happen, and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Awaitable, Callable

from fastapi import APIRouter, WebSocket

router = APIRouter(tags=["live"])
CLOSE_TIMEOUT_S = 5
TRY_AGAIN_LATER = 1013  # RFC 6455's close code for a server that is overloaded
POLICY_VIOLATION = 1008  # RFC 6455: a message the endpoint does not take
# What a client may send, though it is ignored (a keep-alive now and then): a burst of this many, then one a second.
SENT_BURST, SENT_PER_S = 32, 1.0


@router.websocket("/api/live")
async def live(websocket: WebSocket) -> None:
    await follow(websocket, websocket.send_text)


async def follow(websocket: WebSocket, send: Callable[[str], Awaitable[None]]) -> None:
    """Feed one client the hub's messages through `send` until it leaves or stops taking them."""
    await websocket.accept()
    hub, most = websocket.app.state.manager.hub, websocket.app.state.settings.max_clients
    if len(hub.clients) >= most:
        # Accepted, then closed with a reason: a browser shows a refused handshake only as a failed connection.
        await websocket.close(TRY_AGAIN_LATER, f"this server already feeds {most} live clients; close one and try "
                                               f"again")
        return

    async def until_gone() -> None:
        # What a client sends is ignored; reading it is how a closed connection is noticed. The page sends nothing:
        # a client that keeps sending is closed, so its messages cannot keep the event loop (and training) busy.
        allowance, since = float(SENT_BURST), time.monotonic()
        while (await websocket.receive())["type"] != "websocket.disconnect":
            now = time.monotonic()
            allowance, since = min(SENT_BURST, allowance + (now - since) * SENT_PER_S) - 1, now
            if allowance < 0:
                await websocket.close(POLICY_VIOLATION, "this live feed takes no messages and this client keeps "
                                                        "sending them; reconnect and only read")
                return

    await hub.serve(send, until_gone)
    # The hub let the client go (it stopped taking messages) or the client left: close, never wait long for it.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(), CLOSE_TIMEOUT_S)
