"""The container: what goes in comes out, and any change to what is stored is refused."""

from __future__ import annotations

import os

import pytest

from tests.workers.backups.helpers import split_frames
from workers.backups.errors import BackupCorrupt, BackupKeyMissing
from workers.backups.format import Opener, Sealer
from workers.backups.keys import KeyRing

KEY = os.urandom(32)
KEYS = KeyRing({"k1": KEY})
CHUNK = 4096
# Incompressible and compressible parts: several frames of compressed data.
PAYLOAD = os.urandom(20_000) + b"row data " * 5_000


def seal(payload: bytes = PAYLOAD, key_id: str = "k1", key: bytes = KEY) -> bytes:
    sealer = Sealer(key_id, key, chunk_size=CHUNK)
    pieces = [sealer.feed(payload[i : i + 7_000]) for i in range(0, len(payload), 7_000)]
    return b"".join(pieces) + sealer.finish({"tenant": "acme"})


def open_all(blob: bytes, keys: KeyRing = KEYS, piece: int = 5_000) -> tuple[bytes, dict]:
    opener = Opener(keys)
    payload = b"".join(opener.feed(blob[i : i + piece]) for i in range(0, len(blob), piece))
    return payload, opener.finish()


def test_what_is_sealed_opens_to_the_same_payload_and_manifest() -> None:
    blob = seal()
    payload, manifest = open_all(blob)

    assert payload == PAYLOAD
    assert manifest["tenant"] == "acme"
    assert manifest["raw_size"] == len(PAYLOAD)
    assert len(split_frames(blob)[1]) > 3  # several payload frames and the manifest


def test_the_stored_checksum_and_sizes_are_of_the_bytes_written() -> None:
    sealer = Sealer("k1", KEY, chunk_size=CHUNK)
    blob = sealer.feed(PAYLOAD) + sealer.finish({})
    opener = Opener(KEYS)
    opener.feed(blob)
    opener.finish()

    assert sealer.stored_size == len(blob)
    assert sealer.stored_sha256.hexdigest() == opener.stored_sha256.hexdigest()
    assert sealer.raw_size == len(PAYLOAD)
    assert len(blob) < len(PAYLOAD)  # compressed


def test_an_empty_payload_round_trips() -> None:
    payload, manifest = open_all(seal(b""))

    assert payload == b""
    assert manifest["raw_size"] == 0


@pytest.mark.parametrize("where", [0, 10, 40, 200, 9_000, -30, -1])
def test_a_flipped_byte_anywhere_is_refused(where: int) -> None:
    blob = bytearray(seal())
    blob[where] ^= 0x01

    with pytest.raises(BackupCorrupt):
        open_all(bytes(blob))


@pytest.mark.parametrize("keep", [0, 20, 60, 5_000, -1])
def test_a_cut_backup_is_refused(keep: int) -> None:
    blob = seal()

    with pytest.raises(BackupCorrupt, match=r"truncated|authentication"):
        open_all(blob[:keep])


def test_a_backup_cut_exactly_between_frames_is_refused() -> None:
    header, frames = split_frames(seal())

    with pytest.raises(BackupCorrupt, match="final frame is missing"):
        open_all(header + b"".join(frames[:-1]))


def reassemble(blob: bytes, order: list[int]) -> bytes:
    header, frames = split_frames(blob)
    return header + b"".join(frames[i] for i in order)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda n: [i for i in range(n) if i != 1], id="frame removed"),
        pytest.param(lambda n: [1, 0, *range(2, n)], id="frames swapped"),
        pytest.param(lambda n: [0, 1, 1, *range(2, n)], id="frame repeated"),
        pytest.param(lambda n: [*range(n - 2), n - 1, n - 2], id="final frame moved"),
    ],
)
def test_removed_repeated_or_reordered_frames_are_refused(change) -> None:
    blob = seal()
    count = len(split_frames(blob)[1])

    with pytest.raises(BackupCorrupt):
        open_all(reassemble(blob, change(count)))


def test_frames_of_another_backup_are_refused() -> None:
    """Two backups under the same key: a frame moved from one to the other fails."""
    first, second = split_frames(seal()), split_frames(seal())
    mixed = first[0] + second[1][0] + b"".join(first[1][1:])

    with pytest.raises(BackupCorrupt, match="frame 0"):
        open_all(mixed)


def test_bytes_after_the_final_frame_are_refused() -> None:
    with pytest.raises(BackupCorrupt, match="follows the final frame"):
        open_all(seal() + b"\x00")


def test_the_wrong_key_under_the_right_id_is_refused() -> None:
    with pytest.raises(BackupCorrupt, match="failed authentication"):
        open_all(seal(), KeyRing({"k1": os.urandom(32)}))


def test_a_key_id_that_is_not_configured_is_named() -> None:
    with pytest.raises(BackupKeyMissing, match="'k0'"):
        open_all(seal(key_id="k0", key=os.urandom(32)))


def test_an_old_key_still_opens_its_backups_after_rotation() -> None:
    old = seal()
    rotated = KeyRing({"k2": os.urandom(32), "k1": KEY})

    assert open_all(old, rotated)[0] == PAYLOAD
    assert rotated.current_id == "k2"


def test_a_file_that_is_not_a_backup_is_refused() -> None:
    with pytest.raises(BackupCorrupt, match="magic"):
        open_all(b"SQLite format 3\x00" + bytes(100))
