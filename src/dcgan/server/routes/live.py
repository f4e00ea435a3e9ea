"""The live feed: one WebSocket per page. The first message is a hello with the whole current state and history;
then metrics, status, log lines, sample grids, checkpoints and epoch ends as they happen, and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Awaitable, Callable

from fastapi import APIRouter, WebSocket

router = APIRouter(tags=["live"])
CLOSE_TIMEOUT_S = 5
TRY_AGAIN_LATER = 1013  # RFC 6455's close code for a server that is overloaded


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
        # What a client sends is ignored; reading it is how a closed connection is noticed.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    await hub.serve(send, until_gone)
    # The hub let the client go (it stopped taking messages) or the client left: close, never wait long for it.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(), CLOSE_TIMEOUT_S)
