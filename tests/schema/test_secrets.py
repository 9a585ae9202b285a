"""Sealing with the platform secret: opens only with a configured secret, for the same
owner, unaltered; the secret rotates like the backup keys."""

from __future__ import annotations

import pytest

from schema.core.secrets import NotOpenable, SecretRing, UnknownSecret

OLD = "an-old-secret-that-is-long-enough-000"
NEW = "a-new-secret-that-is-long-enough-0000"


def test_a_value_opens_for_its_owner_only() -> None:
    ring = SecretRing((NEW,))
    sealed = ring.seal(b"private key", purpose="p", associated="tenant-a/k1")
    assert b"private key" not in sealed.encode()
    assert ring.open(sealed, purpose="p", associated="tenant-a/k1") == b"private key"
    with pytest.raises(NotOpenable):
        ring.open(sealed, purpose="p", associated="tenant-b/k1")
    with pytest.raises(NotOpenable):
        ring.open(sealed, purpose="other", associated="tenant-a/k1")


def test_an_altered_value_does_not_open() -> None:
    ring = SecretRing((NEW,))
    sealed = ring.seal(b"private key", purpose="p", associated="a")
    prefix, body = sealed.rsplit(".", 1)
    i = len(body) // 2
    flipped = f"{prefix}.{body[:i]}{'B' if body[i] == 'A' else 'A'}{body[i + 1 :]}"
    for broken in (flipped, sealed[:-4], "v2" + sealed[2:], "garbage"):
        with pytest.raises(NotOpenable):
            ring.open(broken, purpose="p", associated="a")


def test_the_secret_rotates_newest_first() -> None:
    sealed_before = SecretRing((OLD,)).seal(b"k", purpose="p", associated="a")
    rotated = SecretRing((NEW, OLD))
    assert rotated.open(sealed_before, purpose="p", associated="a") == b"k"
    sealed_after = rotated.seal(b"k", purpose="p", associated="a")
    assert SecretRing((NEW,)).open(sealed_after, purpose="p", associated="a") == b"k"
    with pytest.raises(UnknownSecret, match="not configured"):
        SecretRing((NEW,)).open(sealed_before, purpose="p", associated="a")


def test_derived_keys_differ_by_purpose_and_secret() -> None:
    ring = SecretRing((NEW, OLD))
    assert ring.key("a") != ring.key("b")
    assert ring.keys("a") == [ring.key("a"), SecretRing((OLD,)).key("a")]
    with pytest.raises(ValueError, match="non-empty"):
        SecretRing(())
