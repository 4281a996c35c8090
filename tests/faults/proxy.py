"""A small TCP proxy on 127.0.0.1 between rota and PostgreSQL, for network faults.

``blackhole(match)`` stops forwarding, in both directions, on the open connections whose
start-up message contains ``match`` (e.g. ``b"rota-listen"``, the LISTEN connection's
application name), or on every connection. Sockets stay open and nothing is dropped: the
bytes wait in the proxy and in the kernels' buffers, as over a network path that went
silent (no FIN, no RST). ``heal()`` forwards again; ``partition()`` also holds the
connections opened from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

_PREFIX_BYTES = 4096  # enough for the SSL request and the start-up message


@dataclass(eq=False)
class Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    prefix: bytearray = field(default_factory=bytearray)  # first bytes the client sent
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False

    def matches(self, pattern: bytes | None) -> bool:
        return pattern is None or pattern in self.prefix


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.connections: list[Connection] = []
        self._server: asyncio.Server | None = None
        self._hold_new = False
        self.port = 0

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def opened(self, pattern: bytes | None = None) -> int:
        """How many connections (ever) had ``pattern`` in their start-up message."""
        return sum(1 for c in self.connections if c.matches(pattern))

    def blackhole(self, match: bytes | None = None) -> int:
        """Stop forwarding on open connections matching ``match``; returns how many."""
        held = [c for c in self.connections if not c.closed and c.matches(match)]
        for connection in held:
            connection.flowing.clear()
        return len(held)

    def partition(self) -> None:
        """Hold every open connection and every connection opened from now on."""
        self._hold_new = True
        self.blackhole()

    def heal(self) -> None:
        self._hold_new = False
        for connection in self.connections:
            connection.flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self.connections:
            _close(connection)
        tasks = [task for c in self.connections for task in c.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        connection = Connection(writer, up_writer)
        if not self._hold_new:
            connection.flowing.set()
        self.connections.append(connection)
        connection.tasks = [
            asyncio.create_task(self._pipe(connection, reader, up_writer, record=True)),
            asyncio.create_task(self._pipe(connection, up_reader, writer, record=False)),
        ]

    async def _pipe(
        self,
        connection: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        record: bool,
    ) -> None:
        try:
            while True:
                await connection.flowing.wait()  # blackholed: stop reading, hold the socket
                data = await reader.read(65536)
                if not data:
                    break
                if record and len(connection.prefix) < _PREFIX_BYTES:
                    connection.prefix += data[: _PREFIX_BYTES - len(connection.prefix)]
                await connection.flowing.wait()  # blackholed meanwhile: hold what was read
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            _close(connection)


def _close(connection: Connection) -> None:
    connection.closed = True
    for writer in (connection.client, connection.upstream):
        with contextlib.suppress(Exception):
            writer.close()
