"""authenticate(): every attempt recorded, per-account throttle and lock-out, per-address
throttle, deactivated and unverified accounts, rehash on sign-in."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import extract_parameters

from schema.core.errors import DomainError
from schema.identity import passwords
from schema.identity.models import IdentityPolicy, SignInAttempt, User
from schema.identity.service import (
    SignInCode,
    SignInRefused,
    authenticate,
    change_password,
    create_user,
    deactivate,
    request_email_change,
    unlock,
)
from schema.identity.service import signin as signin_module
from schema.identity.service.signin import account_delay
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.conftest import FAST, PASSWORD, mails
from tests.schema.principals import user_with

EMAIL = "al@example.com"
HOME = "203.0.113.7"


async def make_user(**fields: object) -> User:
    return await create_user(EMAIL, "Al", password=PASSWORD, email_verified=True, **fields)


async def refused(email: str, password: str, address: str | None = HOME) -> SignInRefused:
    with pytest.raises(SignInRefused) as caught:
        await authenticate(email, password, source_address=address)
    return caught.value


async def attempts() -> list[tuple[str, int | None, str | None, str]]:
    rows = await SignInAttempt.all().order_by("id")
    return [(r.email, r.user_id, r.source_address, r.outcome) for r in rows]


async def backdate_last_failure(user: User, by: timedelta) -> None:
    stored = await User.get(id=user.id)
    assert stored.last_failed_sign_in_at is not None
    await User.filter(id=user.id).update(last_failed_sign_in_at=stored.last_failed_sign_in_at - by)


async def test_success_records_the_attempt_and_the_time(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        before = datetime.now(UTC)
        signed_in = await authenticate(" AL@Example.com ", PASSWORD, source_address=HOME)
        log = await attempts()
        row = await SignInAttempt.get()
    assert signed_in.id == user.id
    assert signed_in.last_login_at is not None
    assert signed_in.last_login_at >= before
    assert log == [(EMAIL, user.id, HOME, "SUCCESS")]
    assert row.attempted_at == signed_in.last_login_at


async def test_wrong_password_and_unknown_email_look_the_same(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        wrong = await refused(EMAIL, "not the password")
        unknown = await refused("nobody@example.com", PASSWORD)
        garbage = await refused("not an email", PASSWORD, address=None)
        log = await attempts()
        stored = await User.get(id=user.id)
    assert (
        (wrong.code, wrong.message)
        == (unknown.code, unknown.message)
        == (
            garbage.code,
            garbage.message,
        )
        == (SignInCode.INVALID_CREDENTIALS, "wrong email or password")
    )
    assert log == [
        (EMAIL, user.id, HOME, "INVALID_CREDENTIALS"),
        ("nobody@example.com", None, HOME, "INVALID_CREDENTIALS"),
        ("not an email", None, None, "INVALID_CREDENTIALS"),
    ]
    assert (stored.failed_sign_ins, stored.last_login_at) == (1, None)


async def test_an_unknown_email_is_checked_against_a_dummy_hash(
    acme: TenantRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = signin_module.verify_password_async

    async def spy(stored: str, password: str) -> bool:
        checked.append(stored)
        return await real(stored, password)

    monkeypatch.setattr(signin_module, "verify_password_async", spy)
    async with tenant_scope(acme):
        await create_user("nopw@example.com", "No Password")  # invited, no password yet
        await refused("nobody@example.com", PASSWORD)
        await refused("nopw@example.com", "")
    assert checked == [passwords.dummy_hash()] * 2


def test_account_delay_doubles_up_to_a_cap() -> None:
    delays = [account_delay(n, throttle_after=5).total_seconds() for n in range(4, 16)]
    assert delays == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert account_delay(10**6, throttle_after=5) == timedelta(minutes=5)


async def test_account_throttle_then_lock_out_then_unlock(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(
            throttle_after_failures=3, lockout_after_failures=5
        )
        user = await make_user()
        codes = [(await refused(EMAIL, f"guess {i}")).code for i in range(3)]
        throttled = await refused(EMAIL, PASSWORD)  # the right password is not even checked
        assert (await User.get(id=user.id)).failed_sign_ins == 3
        await backdate_last_failure(user, timedelta(seconds=1))  # waited 1 s
        codes.append((await refused(EMAIL, "guess 3")).code)
        assert (await refused(EMAIL, PASSWORD)).code is SignInCode.THROTTLED  # now 2 s
        await backdate_last_failure(user, timedelta(seconds=2))
        locking = await refused(EMAIL, "guess 4")
        locked = await refused(EMAIL, PASSWORD)
        stored = await User.get(id=user.id)
        sent = await mails()
        log = [outcome for *_, outcome in await attempts()]
        with pytest.raises(DomainError) as not_yet:
            await unlock(user.id + 1)
        unlocked = await unlock(user.id, reason="called the help desk")
        signed_in = await authenticate(EMAIL, PASSWORD, source_address=HOME)
    assert codes == [SignInCode.INVALID_CREDENTIALS] * 4
    assert throttled.code is SignInCode.THROTTLED
    assert throttled.retry_after is not None
    assert timedelta(0) < throttled.retry_after <= timedelta(seconds=1)
    assert locking.code is locked.code is SignInCode.LOCKED
    assert stored.locked_at is not None
    assert stored.failed_sign_ins == 5
    assert sent == [
        {
            "to": EMAIL,
            "template": "account_locked",
            "params": {"tenant": "Acme Ltd", "full_name": "Al", "failures": 5},
        }
    ]
    assert log == [
        "INVALID_CREDENTIALS",
        "INVALID_CREDENTIALS",
        "INVALID_CREDENTIALS",
        "THROTTLED",
        "INVALID_CREDENTIALS",
        "THROTTLED",
        "LOCKED",
        "LOCKED",
    ]
    assert [(e.field, e.code) for e in not_yet.value.errors] == [(("id",), "NOT_FOUND")]
    assert (unlocked.locked_at, unlocked.failed_sign_ins) == (None, 0)
    assert signed_in.failed_sign_ins == 0


async def test_unlocking_an_unlocked_account_is_refused(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        with pytest.raises(DomainError) as caught:
            await unlock(user.id)
    assert [(e.field, e.code) for e in caught.value.errors] == [(("id",), "NOT_LOCKED")]


async def test_a_success_clears_the_failures(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        for _ in range(4):
            await refused(EMAIL, "guess")
        await authenticate(EMAIL, PASSWORD, source_address=HOME)
        stored = await User.get(id=user.id)
    assert (stored.failed_sign_ins, stored.last_failed_sign_in_at) == (0, None)


async def test_concurrent_failures_lock_once(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(
            throttle_after_failures=50, lockout_after_failures=3
        )
        user = await make_user()

    async def guess(i: int) -> SignInCode:
        async with tenant_scope(acme):
            try:
                await authenticate(EMAIL, f"guess {i}", source_address=HOME)
            except SignInRefused as exc:
                return exc.code
        raise AssertionError("a wrong password signed in")

    results = await asyncio.gather(*(guess(i) for i in range(6)))
    async with tenant_scope(acme):
        stored = await User.get(id=user.id)
        sent = await mails()
    assert stored.locked_at is not None
    # The first two failures count; the third locks; those after find it locked.
    assert sorted(results) == [SignInCode.INVALID_CREDENTIALS] * 2 + [SignInCode.LOCKED] * 4
    assert [m["template"] for m in sent] == ["account_locked"]


async def test_a_later_concurrent_failure_is_no_reason_to_wait(acme: TenantRecord) -> None:
    """Below the throttle there is no delay: a failure recorded by an attempt that began
    after this one (its time later than this attempt's) must not make this one wait."""
    async with tenant_scope(acme):
        user = await make_user()
        later = datetime.now(UTC) + timedelta(seconds=2)
        await User.filter(id=user.id).update(failed_sign_ins=1, last_failed_sign_in_at=later)
        assert (await refused(EMAIL, "a wrong guess")).code is SignInCode.INVALID_CREDENTIALS


async def test_per_address_throttle(acme: TenantRecord, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin_module, "ADDRESS_MAX_FAILURES", 4)
    async with tenant_scope(acme):
        user = await make_user()
        for i in range(4):  # spread over accounts: no account is throttled
            await refused(f"user{i}@example.com", "guess")
        blocked = await refused(EMAIL, PASSWORD)
        elsewhere = await authenticate(EMAIL, PASSWORD, source_address="198.51.100.1")
        await SignInAttempt.filter(outcome="INVALID_CREDENTIALS").update(
            attempted_at=datetime.now(UTC) - timedelta(minutes=16)
        )
        after_window = await authenticate(EMAIL, PASSWORD, source_address=HOME)
        log = await attempts()
    assert blocked.code is SignInCode.THROTTLED
    assert blocked.retry_after is not None
    assert timedelta(minutes=14) < blocked.retry_after <= timedelta(minutes=15)
    assert elsewhere.id == after_window.id == user.id
    assert log[4:] == [
        (EMAIL, None, HOME, "THROTTLED"),
        (EMAIL, user.id, "198.51.100.1", "SUCCESS"),
        (EMAIL, user.id, HOME, "SUCCESS"),
    ]


async def test_a_long_source_address_is_cut(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await refused(EMAIL, PASSWORD, address="f" * 100)
        [(_, _, address, _)] = await attempts()
    assert address == "f" * 64


async def test_deactivated_users_cannot_sign_in(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        await deactivate(user.id, "left", actor=user_with("users:manage", user_id=99))
        wrong = await refused(EMAIL, "guess")
        right = await refused(EMAIL, PASSWORD)
        stored = await User.get(id=user.id)
    assert wrong.code is SignInCode.INVALID_CREDENTIALS  # the status shows only to the owner
    assert right.code is SignInCode.DEACTIVATED
    assert stored.last_login_at is None


async def test_verified_email_required_by_the_tenant(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(email_verification_required=True)
        await create_user(EMAIL, "Al", password=PASSWORD)
        unverified = await refused(EMAIL, PASSWORD)
        await create_user("ok@example.com", "Ok", password=PASSWORD, email_verified=True)
        verified = await authenticate("ok@example.com", PASSWORD, source_address=HOME)
    assert unverified.code is SignInCode.EMAIL_NOT_VERIFIED
    assert verified.email == "ok@example.com"


async def test_sign_in_rehashes_when_the_parameters_changed(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        old_hash = user.password_hash
        assert old_hash is not None
        stronger = replace(FAST, time_cost=2)
        passwords.use_parameters(stronger)
        await authenticate(EMAIL, PASSWORD, source_address=HOME)
        stored = await User.get(id=user.id)
        await authenticate(EMAIL, PASSWORD, source_address=HOME)  # no second rehash
        again = await User.get(id=user.id)
    assert stored.password_hash is not None
    assert stored.password_hash != old_hash
    assert extract_parameters(stored.password_hash) == stronger
    assert again.password_hash == stored.password_hash
    assert stored.password_changed_at == user.password_changed_at  # same password


async def test_wrong_current_passwords_count_like_failed_sign_ins(acme: TenantRecord) -> None:
    """A stolen access token must not let anyone guess the password through
    userPasswordChange or userEmailChangeRequest faster than through the sign-in."""
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(
            throttle_after_failures=2, lockout_after_failures=3
        )
        user = await make_user()
        found = []
        for guess in ("guess 1", "guess 2", PASSWORD):
            with pytest.raises(DomainError) as caught:
                await change_password(user.id, guess, "a new passphrase", source_address=HOME)
            found += [(e.field, e.code) for e in caught.value.errors]
        await backdate_last_failure(user, timedelta(seconds=1))
        with pytest.raises(DomainError) as locking:
            await request_email_change(user.id, "new@example.com", "guess 3", source_address=HOME)
        log = await attempts()
        stored = await User.get(id=user.id)
    assert found == [
        (("current_password",), "WRONG_PASSWORD"),
        (("current_password",), "WRONG_PASSWORD"),
        (("current_password",), "THROTTLED"),
    ]
    assert [(e.field, e.code) for e in locking.value.errors] == [(("current_password",), "LOCKED")]
    assert [outcome for *_, outcome in log] == [
        "INVALID_CREDENTIALS",
        "INVALID_CREDENTIALS",
        "THROTTLED",
        "LOCKED",
    ]
    assert stored.locked_at is not None
    assert stored.password_hash == user.password_hash


async def test_a_right_current_password_clears_the_failures_but_is_no_sign_in(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        user = await make_user()
        await refused(EMAIL, "guess")
        await change_password(user.id, PASSWORD, "a new passphrase", source_address=HOME)
        stored = await User.get(id=user.id)
        log = await attempts()
    assert (stored.failed_sign_ins, stored.last_login_at) == (0, None)
    assert log[-1] == (EMAIL, user.id, HOME, "SUCCESS")
