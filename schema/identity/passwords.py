"""Password hashing: argon2id (argon2-cffi).

Parameters: OWASP's first recommended argon2id configuration, its stated minimum
(Password Storage Cheat Sheet): 19 MiB of memory, 2 iterations, 1 lane, 16-byte salt,
32-byte hash. About 30-60 ms per hash on this project's 2-core machines, which keeps a
sign-in affordable while making offline guessing expensive; raise them (never below)
with ``use_parameters`` at start, and every existing hash is upgraded on its owner's
next sign-in (``needs_rehash``).

Hashing is CPU- and memory-bound, so the async variants run it on a small pool of
threads of its own, one per CPU: the event loop keeps serving while a hash runs, and a
burst of sign-ins queues there instead of taking every thread of asyncio's default pool
or 19 MiB per hash in flight of memory.

Passwords are NFKC-normalized before hashing (NIST SP 800-63B), so the same password
typed on two keyboards that compose characters differently still matches.
"""

from __future__ import annotations

import asyncio
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

OWASP_MINIMUM = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
)

_parameters = OWASP_MINIMUM
_hasher = PasswordHasher.from_parameters(OWASP_MINIMUM)


def use_parameters(parameters: Parameters) -> None:
    """Hash new passwords with ``parameters`` from now on; hashes made with others are
    still verified and report ``needs_rehash``. Tests lower them to stay fast."""
    global _hasher, _parameters
    if parameters.type is not Type.ID:
        raise ValueError("passwords are hashed with argon2id only")
    _hasher = PasswordHasher.from_parameters(parameters)
    _parameters = parameters


def current_parameters() -> Parameters:
    return _parameters


def _normalized(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return _hasher.hash(_normalized(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a wrong password or a malformed hash."""
    try:
        return _hasher.verify(password_hash, _normalized(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


_dummy: tuple[Parameters, str] | None = None


def dummy_hash() -> str:
    """A hash no password matches, made with the current parameters: verifying against it
    costs what a real check costs, so an unknown email is not answered faster."""
    global _dummy
    if _dummy is None or _dummy[0] != _parameters:
        _dummy = (_parameters, hash_password("not a password: timing only"))
    return _dummy[1]


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


async def hash_password_async(password: str) -> str:
    """``hash_password`` on the hashing threads, without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    """``verify_password`` on the hashing threads, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), verify_password, password_hash, password)
