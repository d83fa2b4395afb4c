"""A SOCKS5 server standing in for tor's SOCKS port, for tests that need many fast runs.

Like tor, it takes CONNECT requests by host name (the client resolves nothing) and sends
each connection to the target the test maps that name to: for an ``.onion`` name, the
unix socket the owner's Smart Proxy opened for its onion service (what tor itself would
connect to). Every requested name is recorded. Real tor carries the same traffic in
tests/tor/test_tor_all.py; this stand-in only makes the site-following logic quick to test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

Target = Path | tuple[str, int]


class SocksStandIn:
    def __init__(self, route: Callable[[str, int], Target | None]):
        self.route = route
        self.requests: list[tuple[str, int]] = []
        """Every CONNECT: (host, port)."""
        self.other: list[int] = []
        """Commands other than CONNECT (libtorrent asks for a UDP ASSOCIATE, 3, which tor
        refuses as this does)."""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="socks-standin", daemon=True)

    def __enter__(self) -> SocksStandIn:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the SOCKS stand-in did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ver, n = await reader.readexactly(2)
            await reader.readexactly(n)
            writer.write(b"\x05\x00")
            _v, cmd, _r, atyp = await reader.readexactly(4)
            if atyp == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            elif atyp == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            else:
                host = (await reader.readexactly(16)).hex()
            port = int.from_bytes(await reader.readexactly(2), "big")
            if cmd == 1:
                self.requests.append((host, port))
            else:
                self.other.append(cmd)
            target = self.route(host, port) if cmd == 1 else None
            if target is None:  # host unreachable, or command not supported
                writer.write(b"\x05" + (b"\x04" if cmd == 1 else b"\x07") + b"\x00\x01"
                             + bytes(6))
                await writer.drain()
                return
            if isinstance(target, Path):
                up_r, up_w = await asyncio.open_unix_connection(str(target))
            else:
                up_r, up_w = await asyncio.open_connection(*target)
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.write_eof()
