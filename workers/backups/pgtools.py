"""Running PostgreSQL's client tools (``pg_dump``, ``pg_restore``) without blocking the
event loop, and the scratch databases restores go through.

The DSN is the backend's (``TenancyConfig.database_url``); its password, if any, goes to
the tools in ``PGPASSWORD``, never on a command line other users can read.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg

from alembic_like.targets import quote_ident
from workers.backups.errors import BackupError

STREAM_BLOCK = 1 << 20
_PIPE_LIMIT = 4 << 20
_ERROR_TAIL = 2000


@dataclass(frozen=True, slots=True)
class Database:
    """One database of the server the backend uses."""

    url: str

    @property
    def name(self) -> str:
        parts = urlsplit(self.url)
        return unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or getpass.getuser()

    def with_name(self, name: str) -> Database:
        return Database(urlunsplit(urlsplit(self.url)._replace(path="/" + quote(name))))

    def tool_args(self) -> list[str]:
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}@" if parts.username else ""
        return ["--dbname", urlunsplit(parts._replace(netloc=user + host))]

    def tool_env(self) -> dict[str, str]:
        password = urlsplit(self.url).password
        env = dict(os.environ)
        if password:
            env["PGPASSWORD"] = unquote(password)
        return env

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)


Command = tuple[str, Database, Sequence[str]]  # program, database, further arguments
_PIPE = asyncio.subprocess.PIPE
_NULL = asyncio.subprocess.DEVNULL


async def _spawn(command: Command, *, stdin: int, stdout: int) -> asyncio.subprocess.Process:
    program, db, args = command
    return await asyncio.create_subprocess_exec(
        program, *db.tool_args(), *args,
        stdin=stdin, stdout=stdout, stderr=_PIPE, env=db.tool_env(), limit=_PIPE_LIMIT,
    )  # fmt: skip


async def _check_exit(command: Command, proc: asyncio.subprocess.Process, stderr: bytes) -> None:
    code = await proc.wait()
    if code != 0:
        detail = stderr.decode(errors="replace").strip()[-_ERROR_TAIL:]
        raise BackupError(f"{command[0]} failed (exit {code}): {detail}")


async def run_tool(command: Command) -> None:
    proc = await _spawn(command, stdin=_NULL, stdout=_NULL)
    _, stderr = await proc.communicate()
    await _check_exit(command, proc, stderr)


async def stream_tool(command: Command) -> AsyncGenerator[bytes, None]:
    """The tool's standard output in blocks of about ``STREAM_BLOCK`` bytes; raises when
    it exits with an error (after its last block). Close it (``aclose``) when done."""
    proc = await _spawn(command, stdin=_NULL, stdout=_PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    errors = asyncio.ensure_future(proc.stderr.read())
    try:
        while block := await _read_block(proc.stdout):
            yield block
        await _check_exit(command, proc, await errors)
    finally:
        await _stop(proc)
        errors.cancel()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def _read_block(stream: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < STREAM_BLOCK and (part := await stream.read(STREAM_BLOCK - size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


async def pipe_tools(first: Command, second: Command) -> None:
    """``first | second``: e.g. ``pg_dump`` of one database into ``pg_restore`` of
    another, streamed, both running at once."""
    read_end, write_end = os.pipe()
    procs: list[asyncio.subprocess.Process] = []
    try:
        procs.append(await _spawn(first, stdin=_NULL, stdout=write_end))
        procs.append(await _spawn(second, stdin=read_end, stdout=_NULL))
    except BaseException:
        for proc in procs:
            await _stop(proc)
        raise
    finally:
        os.close(read_end)
        os.close(write_end)
    (_, first_err), (_, second_err) = await asyncio.gather(*(p.communicate() for p in procs))
    # The second tool's error explains a broken pipe in the first: report it first.
    await _check_exit(second, procs[1], second_err)
    await _check_exit(first, procs[0], first_err)


class ScratchDatabases:
    """Databases where payloads are restored to be read back or renamed, never the live
    one. They are kept and reused, emptied before and after each use, rather than made
    and dropped every time: ``DROP DATABASE`` forces a checkpoint, which took 17-29 s on
    the test server. A session advisory lock inside each one leases it to one restore.
    """

    LOCK_KEY = 0x5AA5BAC4

    def __init__(self, main: Database, slots: int = 4) -> None:
        self.main = main
        self.slots = slots

    def name(self, slot: int) -> str:
        return f"{self.main.name[:40]}_bkscratch_{slot}"

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Database]:
        for slot in range(self.slots):
            db = self.main.with_name(self.name(slot))
            conn = await self._open(db)
            try:
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.LOCK_KEY):
                    await _empty(conn)
                    try:
                        yield db
                    finally:
                        await _empty(conn)
                    return
            finally:
                await conn.close()
        raise BackupError(f"all {self.slots} scratch databases are in use; try again later")

    async def _open(self, db: Database) -> asyncpg.Connection:
        try:
            return await db.connect()
        except asyncpg.InvalidCatalogNameError:
            pass
        main = await self.main.connect()
        try:
            await main.execute(f"CREATE DATABASE {quote_ident(db.name)}")
        except asyncpg.DuplicateDatabaseError:
            pass  # another restore made it first
        finally:
            await main.close()
        return await db.connect()


async def _empty(conn: asyncpg.Connection) -> None:
    names = await conn.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
        "AND nspname NOT IN ('public', 'information_schema')"
    )
    for (name,) in names:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
