"""A model folder as a .tar.gz, streamed while it is written: never whole in memory or on disk.

`tarfile` writes in a worker thread into a small bounded queue; the event loop sends each
chunk as it comes. The bounded queue is the back-pressure: a slow client slows the writer.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import threading
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path

CHUNK = 256 * 1024
QUEUE_CHUNKS = 8
PUT_TIMEOUT_S = 1.0


class _Abandoned(Exception):
    """The reader stopped (client gone): the writer thread gives up."""


class _QueueWriter:
    """A write-only file object whose writes become chunks on an asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]):
        self._loop = loop
        self._queue = queue
        self._buffer = bytearray()
        self.abandoned = threading.Event()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self.put(bytes(self._buffer))
            self._buffer.clear()

    def put(self, item: bytes | None) -> None:
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:  # wait for room, but notice when nobody will ever read again
            try:
                future.result(PUT_TIMEOUT_S)
                return
            except TimeoutError:
                if self.abandoned.is_set():
                    future.cancel()
                    raise _Abandoned from None


def _write_tar(
    folder: Path, root: str, writer: _QueueWriter, replaced: Mapping[str, bytes]
) -> None:
    try:
        try:
            # "w|gz" is tarfile's streaming mode: it never seeks, so a queue can be the file.
            with tarfile.open(fileobj=writer, mode="w|gz") as tar:  # type: ignore[call-overload]
                for path in sorted(folder.rglob("*")):
                    name = str(path.relative_to(folder))
                    if name in replaced:
                        _add_bytes(tar, path, f"{root}/{name}", replaced[name])
                    else:
                        tar.add(path, arcname=f"{root}/{name}", recursive=False)
            writer.flush()
        finally:
            writer.put(None)  # the end, after an error too: the reader must not wait forever
    except _Abandoned:
        return


def _add_bytes(tar: tarfile.TarFile, path: Path, arcname: str, data: bytes) -> None:
    info = tar.gettarinfo(str(path), arcname)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


async def tar_gz_chunks(
    folder: Path, root: str, replaced: Mapping[str, bytes] | None = None
) -> AsyncGenerator[bytes, None]:
    """The gzipped tar of `folder` (entries under `root/`), chunk by chunk.

    `replaced` gives other contents for some files (by path inside `folder`): an adapter's
    `adapter_config.json` names its base by version there, not by a folder of this server.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
    writer = _QueueWriter(loop, queue)
    thread = asyncio.create_task(
        asyncio.to_thread(_write_tar, folder, root, writer, dict(replaced or {}))
    )
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await thread  # surfaces an error of the writer (an unreadable file, …)
    finally:
        writer.abandoned.set()
        if not thread.done():
            await asyncio.gather(thread, return_exceptions=True)
