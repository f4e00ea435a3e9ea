"""The WebSocket hub: fans messages out to every connected client without ever waiting for one.

Publishing (on the event loop, fed by the training thread) only appends to per-client queues, so a slow or
vanished client can never slow training or the other clients. Each queue is bounded: a newer status or heartbeat
replaces an unsent older one (coalescing), and a client whose backlog still overflows has it replaced by one
fresh `hello` (the whole current state and history) instead of the messages it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Awaitable, Callable

from pydantic import BaseModel

from dcgan.server import schemas


class Client:
    """One connection's queue. All methods run on the event loop thread."""

    def __init__(self, send: Callable[[str], Awaitable[None]], capacity: int):
        self.send = send
        self.capacity = capacity
        self.queue: deque[tuple[str | None, str]] = deque()  # (coalescing key, JSON text)
        # A hello is built when the client is ready to take it, so it is current and nothing queued before it
        # is needed; the first message of every connection is one.
        self.hello_pending = True
        self.ready = asyncio.Event()
        self.ready.set()

    def put(self, key: str | None, text: str) -> bool:
        """Queue a message; False when the backlog overflowed and was replaced by a pending hello."""
        if self.hello_pending:
            return True  # the pending hello will carry this state
        if key is not None:
            for i, (queued_key, _) in enumerate(self.queue):
                if queued_key == key:
                    del self.queue[i]
                    break
        if len(self.queue) >= self.capacity:
            self.resync()
            return False
        self.queue.append((key, text))
        self.ready.set()
        return True

    def resync(self) -> None:
        self.queue.clear()
        self.hello_pending = True
        self.ready.set()

    async def next(self, hello: Callable[[], str]) -> str:
        while not (self.hello_pending or self.queue):
            self.ready.clear()
            await self.ready.wait()
        if self.hello_pending:
            self.hello_pending = False
            return hello()
        return self.queue.popleft()[1]


class Hub:
    def __init__(self, hello: Callable[[], BaseModel], capacity: int, send_timeout_s: float, heartbeat_s: float):
        self.hello = hello
        self.capacity = capacity
        self.send_timeout_s = send_timeout_s
        self.heartbeat_s = heartbeat_s
        self.clients: set[Client] = set()
        # For tests: how often the memory bound had to act.
        self.resyncs = 0  # backlogs that overflowed and were replaced by a hello
        self.dropped = 0  # clients cut off because one message took longer than send_timeout_s

    def publish(self, message: BaseModel, key: str | None = None) -> None:
        """Queue a message for every client (event loop thread only; never waits). Messages with a key
        coalesce: an unsent older one with the same key is replaced."""
        text = message.model_dump_json()
        for client in self.clients:
            if not client.put(key, text):
                self.resyncs += 1

    def resync_all(self) -> None:
        """Every client gets a fresh hello next (a new run started: its charts start over)."""
        for client in self.clients:
            client.resync()

    async def serve(self, send: Callable[[str], Awaitable[None]], receive: Callable[[], Awaitable[object]]) -> None:
        """Feed one client until it disconnects or stops taking messages. `receive` returns when the client
        has gone (it reads and ignores what the client sends, so a closing handshake is noticed)."""
        client = Client(send, self.capacity)
        self.clients.add(client)
        pump = asyncio.create_task(self._pump(client))
        listen = asyncio.create_task(receive())
        try:
            await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.clients.discard(client)
            for task in (pump, listen):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _pump(self, client: Client) -> None:
        while True:
            text = await client.next(lambda: self.hello().model_dump_json())
            try:
                await asyncio.wait_for(client.send(text), self.send_timeout_s)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                self.dropped += 1
                return

    async def heartbeat(self) -> None:
        """Runs for the server's lifetime: lets clients tell a quiet server from a dead connection."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self.publish(schemas.Heartbeat(time=time.time()), key="heartbeat")
