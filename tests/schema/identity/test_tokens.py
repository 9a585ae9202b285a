"""Mailed tokens: email verification, password reset, "set your password" and change of
email. Each is single-use and expires; a replay or a second concurrent use fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from schema.core.errors import DomainError
from schema.identity.models import TokenPurpose, User, UserToken
from schema.identity.passwords import verify_password
from schema.identity.service import (
    NewUser,
    authenticate,
    change_password,
    confirm_email_change,
    create_user,
    register,
    request_email_change,
    request_email_verification,
    request_password_reset,
    reset_password,
    verify_email,
)
from schema.identity.service.tokens import digest
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.conftest import PASSWORD, mails, outbox_count, token_mail

NEW_PASSWORD = "a whole new passphrase"


def codes(caught: pytest.ExceptionInfo[DomainError]) -> list[tuple[tuple[str, ...], str]]:
    return [(e.field, e.code) for e in caught.value.errors]


async def registered(email: str = "al@example.com") -> tuple[User, str]:
    """A new user and the token of their verification mail."""
    user = await register(NewUser(email, "Al", PASSWORD))
    return user, (await mails())[-1]["params"]["token"]


async def last_token() -> str:
    return (await mails())[-1]["params"]["token"]


async def expire(token: str) -> None:
    await UserToken.filter(token_hash=digest(token)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )


async def test_verify_email_once(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, token = await registered()
        verified = await verify_email(token)
        with pytest.raises(DomainError) as replay:
            await verify_email(token)
        stored = await User.get(id=user.id)
        row = await UserToken.get(user_id=user.id)
    assert verified.email_verified_at is not None
    assert stored.email_verified_at == verified.email_verified_at
    assert row.used_at is not None
    assert codes(replay) == [(("token",), "TOKEN_USED")]


async def test_unknown_tokens(acme: TenantRecord) -> None:
    found = []
    async with tenant_scope(acme):
        user, _ = await registered()
        for token in ["", "nope", "x" * 43, "x" * 5000]:
            with pytest.raises(DomainError) as caught:
                await verify_email(token)
            found += codes(caught)
        assert (await User.get(id=user.id)).email_verified_at is None
    assert found == [(("token",), "TOKEN_INVALID")] * 4


async def test_an_expired_token(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, token = await registered()
        await expire(token)
        with pytest.raises(DomainError) as caught:
            await verify_email(token)
        stored = await User.get(id=user.id)
    assert codes(caught) == [(("token",), "TOKEN_EXPIRED")]
    assert stored.email_verified_at is None


async def test_a_token_is_good_for_its_purpose_only(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        _, token = await registered()
        with pytest.raises(DomainError) as caught:
            await reset_password(token, NEW_PASSWORD)
        await verify_email(token)  # still unused
    assert codes(caught) == [(("token",), "TOKEN_INVALID")]


async def test_concurrent_use_of_one_token_lets_exactly_one_through(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        _, token = await registered()

    async def use() -> str:
        async with tenant_scope(acme):
            try:
                await verify_email(token)
            except DomainError as exc:
                return exc.errors[0].code
            return "verified"

    results = await asyncio.gather(*(use() for _ in range(6)))
    assert sorted(results) == ["TOKEN_USED"] * 5 + ["verified"]


async def test_concurrent_resets_with_one_token_set_one_password(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        token = await last_token()

    async def use(password: str) -> str:
        async with tenant_scope(acme):
            try:
                await reset_password(token, password)
            except DomainError as exc:
                return exc.errors[0].code
            return password

    candidates = [f"{NEW_PASSWORD} {i}" for i in range(4)]
    results = await asyncio.gather(*(use(p) for p in candidates))
    [winner] = [r for r in results if r in candidates]
    assert sorted(r for r in results if r != winner) == ["TOKEN_USED"] * 3
    async with tenant_scope(acme):
        stored = await User.get(id=user.id)
    assert stored.password_hash is not None
    assert verify_password(stored.password_hash, winner)


async def test_verification_can_be_asked_for_again(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        _, first = await registered()
        await request_email_verification("AL@example.com")  # within a minute: no new mail
        assert len(await mails()) == 1
        await UserToken.all().update(created_at=datetime.now(UTC) - timedelta(minutes=2))
        await request_email_verification("AL@example.com")
        second = await last_token()
        with pytest.raises(DomainError) as old:
            await verify_email(first)  # replaced by the new one
        await verify_email(second)
        await request_email_verification("al@example.com")  # verified: nothing to send
        assert len(await mails()) == 2
    assert codes(old) == [(("token",), "TOKEN_INVALID")]


async def test_password_reset(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered()
        await request_password_reset(" AL@Example.com ")
        [_, mail] = await mails()
        token = mail["params"]["token"]
        row = await UserToken.get(purpose=TokenPurpose.RESET_PASSWORD)
        changed = await reset_password(token, NEW_PASSWORD)
        with pytest.raises(DomainError) as replay:
            await reset_password(token, NEW_PASSWORD + "!")
        signed_in = await authenticate("al@example.com", NEW_PASSWORD, source_address=None)
    assert mail == token_mail(
        "al@example.com", "password_reset", "Al", "reset-password", token, row.expires_at
    )
    assert row.expires_at - row.created_at == timedelta(hours=1)
    assert changed.password_changed_at is not None
    assert user.password_changed_at is not None
    assert changed.password_changed_at > user.password_changed_at
    assert changed.email_verified_at is not None  # the mail reached the address
    assert signed_in.id == user.id
    assert codes(replay) == [(("token",), "TOKEN_USED")]


async def test_reset_request_answers_the_same_for_unknown_emails(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        assert await request_password_reset("nobody@example.com") is None
        assert await outbox_count() == 0


@pytest.mark.parametrize(("email", "code"), [("", "REQUIRED"), ("not-an-email", "INVALID")])
async def test_reset_request_refuses_malformed_emails(
    acme: TenantRecord, email: str, code: str
) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await request_password_reset(email)
    assert codes(caught) == [(("email",), code)]


async def test_a_weak_new_password_keeps_the_token(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered()
        await request_password_reset("al@example.com")
        token = await last_token()
        before = (await User.get(id=user.id)).password_hash
        with pytest.raises(DomainError) as caught:
            await reset_password(token, "al")
        assert (await User.get(id=user.id)).password_hash == before
        await reset_password(token, NEW_PASSWORD)  # still usable
    assert codes(caught) == [
        (("new_password",), "PASSWORD_TOO_SHORT"),
        (("new_password",), "PASSWORD_TOO_SIMILAR"),
    ]


async def test_an_expired_reset_token(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await registered()
        await request_password_reset("al@example.com")
        token = await last_token()
        await expire(token)
        with pytest.raises(DomainError) as caught:
            await reset_password(token, NEW_PASSWORD)
    assert codes(caught) == [(("token",), "TOKEN_EXPIRED")]


async def test_set_password_link_of_a_created_user(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("sam@example.com", "Sam")
        await reset_password(await last_token(), NEW_PASSWORD)
        signed_in = await authenticate("sam@example.com", NEW_PASSWORD, source_address=None)
    assert signed_in.id == user.id
    assert signed_in.email_verified_at is not None


async def test_change_password(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered()
        with pytest.raises(DomainError) as wrong:
            await change_password(user.id, "not it", NEW_PASSWORD)
        with pytest.raises(DomainError) as weak:
            await change_password(user.id, PASSWORD, "qwertyuiop")
        await change_password(user.id, PASSWORD, NEW_PASSWORD)
        stored = await User.get(id=user.id)
    assert codes(wrong) == [(("current_password",), "WRONG_PASSWORD")]
    assert codes(weak) == [(("new_password",), "PASSWORD_TOO_COMMON")]
    assert stored.password_hash is not None
    assert verify_password(stored.password_hash, NEW_PASSWORD)


async def test_change_of_email(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered("old@example.com")
        await request_email_change(user.id, "New@Example.com", PASSWORD)
        request = (await mails())[-1]
        row = await UserToken.get(purpose=TokenPurpose.CHANGE_EMAIL)
        unchanged = await User.get(id=user.id)
        token = request["params"]["token"]
        changed = await confirm_email_change(token)
        notice = (await mails())[-1]
        with pytest.raises(DomainError) as replay:
            await confirm_email_change(token)
        pending_verifications = await UserToken.filter(
            purpose=TokenPurpose.VERIFY_EMAIL, used_at=None
        ).count()
    assert unchanged.email == "old@example.com"
    assert request == token_mail(
        "new@example.com",
        "email_change_verify",
        "Al",
        "confirm-email-change",
        token,
        row.expires_at,
        new_email="new@example.com",
    )
    assert (row.new_email, row.expires_at - row.created_at) == (
        "new@example.com",
        timedelta(hours=24),
    )
    assert changed.email == "new@example.com"
    assert changed.email_verified_at is not None
    assert notice == {
        "to": "old@example.com",
        "template": "email_changed",
        "params": {
            "tenant": "Acme Ltd",
            "full_name": "Al",
            "old_email": "old@example.com",
            "new_email": "new@example.com",
        },
    }
    assert codes(replay) == [(("token",), "TOKEN_USED")]
    assert pending_verifications == 0


async def test_change_of_email_refusals(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered("al@example.com")
        await registered("bo@example.com")
        sent = len(await mails())
        refusals = []
        for new_email, password in [
            ("al@example.com", PASSWORD),
            ("BO@example.com", PASSWORD),
            ("broken", PASSWORD),
            ("x@example.com", "wrong password"),
        ]:
            with pytest.raises(DomainError) as caught:
                await request_email_change(user.id, new_email, password)
            refusals += codes(caught)
        assert len(await mails()) == sent
        assert await UserToken.filter(purpose=TokenPurpose.CHANGE_EMAIL).count() == 0
    assert refusals == [
        (("new_email",), "SAME_EMAIL"),
        (("new_email",), "EMAIL_TAKEN"),
        (("new_email",), "INVALID"),
        (("current_password",), "WRONG_PASSWORD"),
    ]


async def test_an_address_taken_before_confirmation(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user, _ = await registered("al@example.com")
        await request_email_change(user.id, "new@example.com", PASSWORD)
        token = await last_token()
        await registered("new@example.com")
        with pytest.raises(DomainError) as caught:
            await confirm_email_change(token)
        assert (await User.get(id=user.id)).email == "al@example.com"
    assert codes(caught) == [(("token",), "EMAIL_TAKEN")]
