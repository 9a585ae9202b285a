"""argon2id hashing: parameters at or above OWASP's minimum, verification, rehash
detection, and hashing off the event loop."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from schema.identity import passwords
from tests.schema.identity.conftest import FAST


def test_production_parameters_meet_owasp_minimum() -> None:
    production = passwords.OWASP_MINIMUM
    assert production.type is Type.ID
    assert production.memory_cost >= 19 * 1024  # KiB
    assert production.time_cost >= 2
    assert production.parallelism >= 1
    assert production.salt_len >= 16
    assert production.hash_len >= 32


def test_hash_carries_the_current_parameters() -> None:
    stored = passwords.hash_password("tr0ub4dor&3")
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert extract_parameters(stored) == FAST


def test_verify() -> None:
    stored = passwords.hash_password("tr0ub4dor&3")
    assert passwords.verify_password(stored, "tr0ub4dor&3") is True
    assert passwords.verify_password(stored, "tr0ub4dor&4") is False
    assert passwords.verify_password(stored, "") is False
    assert passwords.verify_password("not a hash", "tr0ub4dor&3") is False
    assert passwords.verify_password(passwords.dummy_hash(), "") is False


def test_passwords_are_compared_in_nfkc() -> None:
    composed = "\u00c5pfelkuchen"  # Å as one code point
    decomposed = "A\u030apfelkuchen"  # A + combining ring
    assert passwords.verify_password(passwords.hash_password(composed), decomposed) is True


def test_needs_rehash_when_the_parameters_change() -> None:
    old = passwords.hash_password("tr0ub4dor&3")
    assert passwords.needs_rehash(old) is False
    stronger = replace(FAST, time_cost=2)
    passwords.use_parameters(stronger)
    assert passwords.needs_rehash(old) is True
    assert passwords.verify_password(old, "tr0ub4dor&3") is True  # still verifies
    assert passwords.needs_rehash(passwords.hash_password("tr0ub4dor&3")) is False
    assert passwords.needs_rehash("garbage") is True


def test_dummy_hash_follows_the_parameters() -> None:
    assert extract_parameters(passwords.dummy_hash()) == FAST
    stronger = replace(FAST, memory_cost=16)
    passwords.use_parameters(stronger)
    assert extract_parameters(passwords.dummy_hash()) == stronger


def test_only_argon2id_is_accepted() -> None:
    with pytest.raises(ValueError, match="argon2id only"):
        passwords.use_parameters(replace(FAST, type=Type.I))
    assert passwords.current_parameters() == FAST


async def test_hashing_does_not_block_the_event_loop() -> None:
    """With the production parameters a hash takes tens of milliseconds; meanwhile the
    loop keeps running other tasks."""
    passwords.use_parameters(passwords.OWASP_MINIMUM)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    running = asyncio.create_task(ticker())
    started = time.perf_counter()
    stored = await passwords.hash_password_async("tr0ub4dor&3")
    assert await passwords.verify_password_async(stored, "tr0ub4dor&3") is True
    elapsed = time.perf_counter() - started
    done.set()
    await running
    assert extract_parameters(stored) == passwords.OWASP_MINIMUM
    assert elapsed > 0.01  # the real cost, not a shortcut
    assert ticks >= 5


def test_hashes_verify_with_plain_argon2_cffi() -> None:
    """Stored hashes are standard PHC strings: any argon2 library can check them."""
    stored = passwords.hash_password("tr0ub4dor&3")
    assert PasswordHasher().verify(stored, "tr0ub4dor&3") is True
