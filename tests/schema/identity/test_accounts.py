"""Registration, creation by an administrator, deactivation and reactivation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from schema.core.errors import DomainError
from schema.identity.models import IdentityPolicy, User, UserStatus, UserToken, UserType
from schema.identity.passwords import verify_password
from schema.identity.service import (
    NewUser,
    create_user,
    deactivate,
    reactivate,
    register,
    request_password_reset,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.conftest import PASSWORD, mails, outbox_count, token_mail
from tests.schema.principals import user_with

ADMIN = user_with("users:manage", user_id=999)


def refused(caught: pytest.ExceptionInfo[DomainError]) -> list[tuple[tuple[str, ...], str]]:
    return [(e.field, e.code) for e in caught.value.errors]


async def test_registration(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await register(
            NewUser(" Alice.Smith@Example.COM ", " Alice Smith ", PASSWORD, "+44 20 7946 0958")
        )
        stored = await User.get(id=user.id)
        [mail] = await mails()
        token = await UserToken.get(user_id=user.id)
    assert (stored.email, stored.full_name, stored.phone) == (
        "alice.smith@example.com",
        "Alice Smith",
        "+442079460958",
    )
    assert (stored.user_type, stored.status, stored.merchant_id) == (
        UserType.USER,
        UserStatus.ACTIVE,
        None,
    )
    assert stored.email_verified_at is None
    assert stored.password_hash is not None
    assert verify_password(stored.password_hash, PASSWORD)
    assert stored.password_changed_at is not None
    sent = mail["params"]["token"]
    assert mail == token_mail(
        "alice.smith@example.com",
        "verify_email",
        "Alice Smith",
        "verify-email",
        sent,
        token.expires_at,
    )
    assert len(sent) == 43  # 32 random bytes
    assert token.token_hash != sent
    assert len(token.token_hash) == 64
    assert token.expires_at - token.created_at == timedelta(hours=48)


async def test_links_use_the_tenants_front_end_when_set(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(link_base_url="https://shop.acme.example/acc")
        await register(NewUser("al@example.com", "Al", PASSWORD))
        [mail] = await mails()
    token = mail["params"]["token"]
    assert mail["params"]["link"] == f"https://shop.acme.example/acc/verify-email?token={token}"


MALFORMED_EMAILS = {
    "": "REQUIRED",
    "   ": "REQUIRED",
    "plainaddress": "INVALID",
    "two@@example.com": "INVALID",
    "a@b": "INVALID",
    "spaces in@example.com": "INVALID",
    "a@example..com": "INVALID",
    "<script>@example.com": "INVALID",
    "x" * 245 + "@example.com": "TOO_LONG",
}


async def test_malformed_emails(acme: TenantRecord) -> None:
    found = {}
    async with tenant_scope(acme):
        for email in MALFORMED_EMAILS:
            with pytest.raises(DomainError) as caught:
                await register(NewUser(email, "Al", PASSWORD))
            [(field, found[email])] = refused(caught)
            assert field == ("email",)
        assert await User.all().count() == 0
        assert await outbox_count() == 0
    assert found == MALFORMED_EMAILS


async def test_every_bad_field_is_reported_and_nothing_is_written(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await register(NewUser("nope", "x" * 201, "password", "12345"))
        assert await User.all().count() == 0
        assert await outbox_count() == 0
    assert refused(caught) == [
        (("email",), "INVALID"),
        (("full_name",), "TOO_LONG"),
        (("phone",), "INVALID"),
        (("password",), "PASSWORD_TOO_COMMON"),
    ]


BAD_FIELDS = [
    (NewUser("al@example.com", "", PASSWORD), [(("full_name",), "REQUIRED")]),
    (NewUser("al@example.com", "Al\x00", PASSWORD), [(("full_name",), "INVALID")]),
    (NewUser("al@example.com", "Al", "x" * 10_000), [(("password",), "PASSWORD_TOO_LONG")]),
    (NewUser("al@example.com", "Al", PASSWORD, "+" + "1" * 40), [(("phone",), "TOO_LONG")]),
    (NewUser("al@example.com", "Al", PASSWORD, "+44 20"), [(("phone",), "INVALID")]),
    (NewUser("al@example.com", "Al", None), [(("password",), "REQUIRED")]),
]


async def test_bad_fields(acme: TenantRecord) -> None:
    found = []
    async with tenant_scope(acme):
        for new, _ in BAD_FIELDS:
            with pytest.raises(DomainError) as caught:
                await register(new)
            found.append(refused(caught))
        assert await User.all().count() == 0
    assert found == [expected for _, expected in BAD_FIELDS]


async def test_a_name_may_hold_a_zero_width_non_joiner(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await register(NewUser("mr@example.com", "مهر\u200cنوش", PASSWORD))
    assert user.full_name == "مهر\u200cنوش"


async def test_duplicate_email_in_any_case(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await register(NewUser("al@example.com", "Al", PASSWORD))
        with pytest.raises(DomainError) as caught:
            await register(NewUser("AL@EXAMPLE.com", "Other Al", PASSWORD))
        assert await User.all().count() == 1
        assert len(await mails()) == 1
    assert refused(caught) == [(("email",), "EMAIL_TAKEN")]
    assert caught.value.errors[0].message == "this email address is already registered"


async def test_concurrent_registrations_of_one_email_make_one_user(acme: TenantRecord) -> None:
    async def attempt(name: str) -> str:
        async with tenant_scope(acme):
            try:
                await register(NewUser("al@example.com", name, PASSWORD))
            except DomainError as exc:
                return exc.errors[0].code
            return "created"

    results = await asyncio.gather(*(attempt(f"Al {i}") for i in range(4)))
    assert sorted(results) == ["EMAIL_TAKEN"] * 3 + ["created"]
    async with tenant_scope(acme):
        assert await User.all().count() == 1
        assert len(await mails()) == 1


async def test_closed_registration(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(registration_open=False)
        with pytest.raises(DomainError) as caught:
            await register(NewUser("al@example.com", "Al", PASSWORD))
        assert await User.all().count() == 0
        created = await create_user("al@example.com", "Al", password=PASSWORD)  # admins may
    assert refused(caught) == [((), "REGISTRATION_CLOSED")]
    assert created.email == "al@example.com"


async def test_a_required_phone(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(phone_required=True)
        with pytest.raises(DomainError) as caught:
            await register(NewUser("al@example.com", "Al", PASSWORD))
        user = await register(NewUser("al@example.com", "Al", PASSWORD, "+1 415 555 2671"))
    assert refused(caught) == [(("phone",), "REQUIRED")]
    assert user.phone == "+14155552671"


async def test_the_tenants_password_policy_applies(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(
            password_min_length=24, password_require_uppercase=True
        )
        with pytest.raises(DomainError) as caught:
            await register(NewUser("al@example.com", "Al", PASSWORD))
    assert refused(caught) == [
        (("password",), "PASSWORD_TOO_SHORT"),
        (("password",), "PASSWORD_MISSING_CHARACTER_CLASS"),
    ]


async def test_create_user_without_a_password_mails_a_set_password_link(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        user = await create_user(
            "Staff@Example.com", "Sam Staff", user_type=UserType.MERCHANT_STAFF, merchant_id=7
        )
        [mail] = await mails()
        token = await UserToken.get(user_id=user.id)
    assert (user.email, user.user_type, user.merchant_id) == (
        "staff@example.com",
        UserType.MERCHANT_STAFF,
        7,
    )
    assert user.password_hash is None
    sent = mail["params"]["token"]
    assert mail == token_mail(
        "staff@example.com", "set_password", "Sam Staff", "set-password", sent, token.expires_at
    )
    assert (token.purpose, token.expires_at - token.created_at) == (
        "reset_password",
        timedelta(days=7),
    )


async def test_create_user_verified_with_a_password_sends_nothing(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user(
            "owner@example.com",
            "Olga Owner",
            user_type=UserType.TENANT_STAFF,
            password=PASSWORD,
            email_verified=True,
        )
        assert await mails() == []
    assert isinstance(user.email_verified_at, datetime)
    assert user.user_type is UserType.TENANT_STAFF


async def test_create_user_unverified_with_a_password_mails_a_verification(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        await create_user("m@example.com", "Mia", user_type=UserType.MEMBER, password=PASSWORD)
        assert [m["template"] for m in await mails()] == ["verify_email"]


@pytest.mark.parametrize(
    ("user_type", "merchant_id", "code"),
    [
        (UserType.MERCHANT_STAFF, None, "MERCHANT_REQUIRED"),
        (UserType.USER, 3, "MERCHANT_NOT_ALLOWED"),
        (UserType.TENANT_STAFF, 3, "MERCHANT_NOT_ALLOWED"),
    ],
)
async def test_only_merchant_staff_have_a_merchant(
    acme: TenantRecord, user_type: UserType, merchant_id: int | None, code: str
) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await create_user("s@example.com", "S", user_type=user_type, merchant_id=merchant_id)
        assert await User.all().count() == 0
    assert refused(caught) == [(("merchant_id",), code)]


async def test_create_user_checks_the_password(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await create_user("sam@example.com", "Sam", password="sam-is-great-123")
    assert refused(caught) == [(("password",), "PASSWORD_TOO_SIMILAR")]


async def test_deactivate_and_reactivate(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await register(NewUser("al@example.com", "Al", PASSWORD))
        deactivated = await deactivate(user.id, " left the company ", actor=ADMIN)
        assert await UserToken.all().count() == 0  # the verification link stops working
        stored = await User.get(id=user.id)
        reactivated = await reactivate(user.id, "came back", actor=ADMIN)
        again = await User.get(id=user.id)
    assert (deactivated.status, stored.status) == (UserStatus.DEACTIVATED,) * 2
    assert (stored.status_reason, stored.status_changed_by) == ("left the company", "user:999")
    assert isinstance(stored.status_changed_at, datetime)
    assert reactivated.status is again.status is UserStatus.ACTIVE
    assert (again.status_reason, again.status_changed_by) == ("came back", "user:999")


async def test_status_transitions_are_checked(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await register(NewUser("al@example.com", "Al", PASSWORD))
        with pytest.raises(DomainError) as active:
            await reactivate(user.id, "why", actor=ADMIN)
        await deactivate(user.id, "gone", actor=ADMIN)
        with pytest.raises(DomainError) as twice:
            await deactivate(user.id, "gone again", actor=ADMIN)
        stored = await User.get(id=user.id)
    assert refused(active) == [(("id",), "NOT_DEACTIVATED")]
    assert refused(twice) == [(("id",), "ALREADY_DEACTIVATED")]
    assert stored.status_reason == "gone"


@pytest.mark.parametrize(
    ("reason", "code"), [("", "REQUIRED"), ("  ", "REQUIRED"), ("x" * 1001, "TOO_LONG")]
)
async def test_deactivation_needs_a_reason(acme: TenantRecord, reason: str, code: str) -> None:
    async with tenant_scope(acme):
        user = await register(NewUser("al@example.com", "Al", PASSWORD))
        with pytest.raises(DomainError) as caught:
            await deactivate(user.id, reason, actor=ADMIN)
        assert (await User.get(id=user.id)).status is UserStatus.ACTIVE
    assert refused(caught) == [(("reason",), code)]


async def test_administrators_cannot_deactivate_themselves_or_nobody(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await register(NewUser("al@example.com", "Al", PASSWORD))
        with pytest.raises(DomainError) as own:
            await deactivate(user.id, "oops", actor=user_with("users:manage", user_id=user.id))
        with pytest.raises(DomainError) as missing:
            await deactivate(user.id + 100, "who", actor=ADMIN)
        assert (await User.get(id=user.id)).status is UserStatus.ACTIVE
    assert refused(own) == [(("id",), "SELF_NOT_ALLOWED")]
    assert refused(missing) == [(("id",), "NOT_FOUND")]


async def test_a_deactivated_user_gets_no_reset_mail(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al", password=PASSWORD, email_verified=True)
        await deactivate(user.id, "gone", actor=ADMIN)
        await request_password_reset("al@example.com")
        assert await mails() == []
