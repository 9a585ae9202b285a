"""Streaming files in large blocks without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import BinaryIO

READ_BLOCK = 4 << 20


async def read_file(path: Path, block: int = READ_BLOCK) -> AsyncGenerator[bytes, None]:
    """The file's bytes in blocks, each read in a worker thread. Raises
    ``FileNotFoundError`` on the first step when the file is missing."""
    source: BinaryIO = await asyncio.to_thread(path.open, "rb")
    try:
        while data := await asyncio.to_thread(source.read, block):
            yield data
    finally:
        source.close()
