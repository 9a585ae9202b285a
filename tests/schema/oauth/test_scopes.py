"""What a token may carry: what was asked for, narrowed to what the client may ask for."""

from __future__ import annotations

import pytest

from schema.oauth.scopes import describe, grantable, is_registrable

ALLOWED = ["orders:read", "listings:*", "offline_access"]


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, "orders:read listings:*"),  # the default leaves offline_access out
        ("", "orders:read listings:*"),
        ("orders:read", "orders:read"),
        ("orders:read orders:read", "orders:read"),
        ("listings:manage listings:read", "listings:manage listings:read"),
        ("listings:*", "listings:*"),
        ("orders:read offline_access", "orders:read offline_access"),
        ("orders:read orders:refund", "orders:read"),  # narrowed, not refused
        ("orders:*", None),  # broader than orders:read
        ("*", None),
        ("users:manage", None),
        ("openid", None),
        ("no:such", None),
    ],
)
def test_grantable(requested: str | None, granted: str | None) -> None:
    assert grantable(ALLOWED, requested) == granted


def test_a_pattern_never_grants_offline_access_or_unknown_scopes() -> None:
    assert grantable(["*"], "offline_access orders:read") == "orders:read"
    assert grantable(["*"], "openid email") is None


def test_registrable_scopes() -> None:
    assert [s for s in ("orders:read", "orders:*", "*", "offline_access") if is_registrable(s)] == [
        "orders:read",
        "orders:*",
        "*",
        "offline_access",
    ]
    assert not any(is_registrable(s) for s in ("openid", "profile", "orders:fly", "nope:*", ""))


def test_consent_page_descriptions() -> None:
    assert describe("orders:read") == "see orders, their history and their change requests"
    assert describe("orders:*") == "everything your roles allow on orders"
    assert describe("*") == "everything your roles allow"
    assert describe("offline_access").startswith("keep access")
