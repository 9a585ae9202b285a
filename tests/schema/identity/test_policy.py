"""Password rules and the tenant's identity policy."""

from __future__ import annotations

import pytest

from schema.core.errors import DomainError, FieldError
from schema.identity.models import IdentityPolicy
from schema.identity.policy import (
    PasswordRules,
    PolicyChanges,
    common_passwords,
    get_policy,
    password_errors,
    update_policy,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

EMAIL = "alice.smith@example.com"


DEFAULT_RULES = PasswordRules()


def codes(password: str, rules: PasswordRules = DEFAULT_RULES, email: str = EMAIL) -> list[str]:
    return [e.code for e in password_errors(password, rules, email=email)]


def test_the_bundled_list_is_loaded_once() -> None:
    listed = common_passwords()
    assert len(listed) > 19_000
    assert {"password", "123456", "qwerty", "iloveyou"} <= listed
    assert common_passwords() is listed


def test_a_good_password_passes() -> None:
    assert password_errors("correct horse battery", PasswordRules(), email=EMAIL) == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short1!", ["PASSWORD_TOO_SHORT"]),
        ("x" * 129, ["PASSWORD_TOO_LONG"]),
        ("password", ["PASSWORD_TOO_COMMON"]),
        ("Password1", ["PASSWORD_TOO_COMMON"]),  # compared lower-cased
        ("  iloveyou ", ["PASSWORD_TOO_COMMON"]),
        ("12345", ["PASSWORD_TOO_SHORT", "PASSWORD_TOO_COMMON"]),
        ("alice.smith", ["PASSWORD_TOO_SIMILAR"]),
        ("my-ALICE.SMITH-pw", ["PASSWORD_TOO_SIMILAR"]),
    ],
)
def test_weak_passwords(password: str, expected: list[str]) -> None:
    assert codes(password) == expected


def test_a_short_local_part_is_refused_only_as_the_whole_password() -> None:
    assert codes("jo", email="jo@example.com") == ["PASSWORD_TOO_SHORT", "PASSWORD_TOO_SIMILAR"]
    assert codes("enjoying the view", email="jo@example.com") == []


def test_exactly_at_the_bounds() -> None:
    assert codes("x7#kq9!z") == []  # 8
    assert codes("x7#kq9!z" * 16) == []  # 128


def test_character_classes() -> None:
    rules = PasswordRules(
        require_lowercase=True, require_uppercase=True, require_digit=True, require_symbol=True
    )
    [error] = password_errors("ALLUPPERCASEWORDS", rules, email=EMAIL)
    assert error == FieldError(
        ("password",),
        "PASSWORD_MISSING_CHARACTER_CLASS",
        "it must contain a lower-case letter, a digit, a symbol",
    )
    assert password_errors("Ünïcode läuft 7", rules, email=EMAIL) == []  # space is a symbol


def test_a_longer_minimum() -> None:
    assert codes("correct horse", PasswordRules(min_length=14)) == ["PASSWORD_TOO_SHORT"]


async def test_new_tenant_has_the_platform_defaults(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        policy = await get_policy()
    assert (
        policy.registration_open,
        policy.phone_required,
        policy.email_verification_required,
        policy.password_min_length,
        policy.throttle_after_failures,
        policy.lockout_after_failures,
        policy.link_base_url,
        policy.version,
    ) == (True, False, False, 8, 5, 20, None, 1)


async def test_update_changes_only_what_differs(acme: TenantRecord) -> None:
    changes = PolicyChanges(
        registration_open=True,  # as it is
        password_min_length=12,
        password_require_digit=True,
        lockout_after_failures=10,
        link_base_url=" https://shop.acme.example/account/ ",
    )
    async with tenant_scope(acme):
        updated = await update_policy(changes, actor="user:1")
        stored = await get_policy()
        again = await update_policy(PolicyChanges(password_min_length=12), actor="user:2")
    assert (stored.password_min_length, stored.password_require_digit) == (12, True)
    assert stored.lockout_after_failures == 10
    assert stored.link_base_url == "https://shop.acme.example/account"
    assert (updated.version, stored.version, stored.updated_by) == (2, 2, "user:1")
    assert (again.version, again.updated_by) == (2, "user:1")  # nothing differed


async def test_clearing_the_link_base(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await update_policy(PolicyChanges(link_base_url="https://a.example"), actor="t")
        await update_policy(PolicyChanges(link_base_url=""), actor="t")
        assert (await get_policy()).link_base_url is None


BAD_CHANGES = [
    (PolicyChanges(password_min_length=7), [("password_min_length", "OUT_OF_RANGE")]),
    (PolicyChanges(password_min_length=65), [("password_min_length", "OUT_OF_RANGE")]),
    (PolicyChanges(throttle_after_failures=0), [("throttle_after_failures", "OUT_OF_RANGE")]),
    (PolicyChanges(lockout_after_failures=2), [("lockout_after_failures", "OUT_OF_RANGE")]),
    (PolicyChanges(lockout_after_failures=4), [("lockout_after_failures", "OUT_OF_RANGE")]),
    (PolicyChanges(link_base_url="http://shop.example"), [("link_base_url", "INVALID")]),
    (PolicyChanges(link_base_url="https://x.example/?a=1"), [("link_base_url", "INVALID")]),
    (PolicyChanges(link_base_url="javascript:alert(1)"), [("link_base_url", "INVALID")]),
    (PolicyChanges(link_base_url="https://" + "a" * 300), [("link_base_url", "TOO_LONG")]),
    (
        PolicyChanges(password_min_length=3, link_base_url="ftp://x"),
        [("link_base_url", "INVALID"), ("password_min_length", "OUT_OF_RANGE")],
    ),
    (PolicyChanges(), [((), "NOTHING_TO_CHANGE")]),
]


async def test_bad_changes_are_refused_and_change_nothing(acme: TenantRecord) -> None:
    found = []
    async with tenant_scope(acme):
        before = await get_policy()
        for changes, _ in BAD_CHANGES:
            with pytest.raises(DomainError) as caught:
                await update_policy(changes, actor="user:1")
            found.append([(e.field[0] if e.field else (), e.code) for e in caught.value.errors])
        after = await get_policy()
    assert found == [expected for _, expected in BAD_CHANGES]
    assert snapshot(after) == snapshot(before)


async def test_http_is_allowed_for_a_local_front_end(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        policy = await update_policy(
            PolicyChanges(link_base_url="http://localhost:3000/account"), actor="t"
        )
    assert policy.link_base_url == "http://localhost:3000/account"


def snapshot(policy: IdentityPolicy) -> dict[str, object]:
    return {f: getattr(policy, f) for f in policy._meta.fields_map}
