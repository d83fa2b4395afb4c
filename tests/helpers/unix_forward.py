"""A TCP port on 127.0.0.1 that forwards every connection to a unix socket.

``python -m tests.helpers.unix_forward PORT SOCKET READY``: inside a network namespace it makes
a tor whose SOCKS port is a unix socket outside reachable as ``127.0.0.1:PORT``, the only
TCP port the engine there may talk to. Touches READY when it listens; runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.write_eof()


async def main(port: int, target: str, ready: Path) -> None:
    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_unix_connection(target)
        except OSError:
            w.close()
            return
        try:
            await asyncio.gather(pipe(r, uw), pipe(ur, w))
        except asyncio.CancelledError:  # stopping
            pass
        finally:
            w.close()
            uw.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    ready.touch()
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
