"""The local folder store: objects appear whole or not at all."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workers.backups.errors import BackupError
from workers.backups.store import BackupMissing, LocalFolderStore, StoredObject


async def stream(*pieces: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
    if fail:
        raise RuntimeError("the source broke")


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def read(store: LocalFolderStore, key: str) -> bytes:
    return b"".join([block async for block in store.get(key)])


async def test_put_get_list_delete(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    size = await store.put("tenants/a/one.sbk", stream(b"abc", b"def"))
    await store.put("registry/two.sbk", stream(b"x"))

    assert size == 6
    assert await read(store, "tenants/a/one.sbk") == b"abcdef"
    assert await store.list("tenants/") == [StoredObject("tenants/a/one.sbk", 6)]
    assert [o.key for o in await store.list()] == ["registry/two.sbk", "tenants/a/one.sbk"]
    await store.delete("tenants/a/one.sbk")
    await store.delete("tenants/a/one.sbk")  # a missing object is not an error
    assert await store.list("tenants/") == []


async def test_objects_are_private_to_the_owner(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    await store.put("k.sbk", stream(b"secret"))

    assert stat.S_IMODE(os.stat(tmp_path / "k.sbk").st_mode) == 0o600


async def test_a_failed_stream_leaves_nothing_under_the_key_nor_beside_it(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    await store.put("k.sbk", stream(b"old"))

    with pytest.raises(RuntimeError, match="broke"):
        await store.put("k.sbk", stream(b"new", b"partial", fail=True))

    assert await read(store, "k.sbk") == b"old"  # the previous object is untouched
    assert names(tmp_path) == ["k.sbk"]


async def test_a_missing_object_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BackupMissing, match="nope"):
        await read(LocalFolderStore(tmp_path), "nope.sbk")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", ".hidden", "a//b", "a b", ""])
async def test_keys_that_could_leave_the_folder_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(BackupError, match="invalid backup store key"):
        await LocalFolderStore(tmp_path).put(key, stream(b"x"))
