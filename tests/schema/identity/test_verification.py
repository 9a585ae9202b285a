"""Identity verification: submissions, reviewers' decisions, every transition checked."""

from __future__ import annotations

import pytest

from schema.core.errors import DomainError
from schema.identity.models import (
    DocumentKind,
    IdentityDocument,
    IdentityStatus,
    IdentityVerification,
    User,
)
from schema.identity.service import (
    DocumentSubmission,
    create_user,
    decide_identity,
    submit_identity,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import user_with

PASSPORT = DocumentSubmission(DocumentKind.PASSPORT, " P1234567 ", "uploads/7/passport.pdf")
DIPLOMA = DocumentSubmission(DocumentKind.QUALIFICATION, "CERT-9", "uploads/7/diploma.pdf")
REVIEWER = user_with("identity:review", user_id=500)


def codes(caught: pytest.ExceptionInfo[DomainError]) -> list[tuple[tuple[str, ...], str]]:
    return [(e.field, e.code) for e in caught.value.errors]


async def status_of(user: User) -> IdentityStatus:
    return (await User.get(id=user.id)).identity_status


async def test_submit_then_verify(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        assert user.identity_status is IdentityStatus.UNVERIFIED
        submitted = await submit_identity(user.id, [PASSPORT, DIPLOMA])
        documents = await IdentityDocument.filter(verification_id=submitted.id).order_by("id")
        after_submit = await status_of(user)
        decided = await decide_identity(submitted.id, verified=True, reason=None, actor=REVIEWER)
        stored = await IdentityVerification.get(id=submitted.id)
        after_decision = await status_of(user)
    assert (submitted.status, after_submit) == (IdentityStatus.SUBMITTED,) * 2
    assert [(d.kind, d.reference, d.file_reference) for d in documents] == [
        (DocumentKind.PASSPORT, "P1234567", "uploads/7/passport.pdf"),
        (DocumentKind.QUALIFICATION, "CERT-9", "uploads/7/diploma.pdf"),
    ]
    assert decided.status is stored.status is after_decision is IdentityStatus.VERIFIED
    assert (stored.decided_by, stored.reason) == ("user:500", None)
    assert stored.decided_at is not None
    assert stored.decided_at >= stored.submitted_at


async def test_reject_then_resubmit(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        first = await submit_identity(user.id, [PASSPORT])
        with pytest.raises(DomainError) as no_reason:
            await decide_identity(first.id, verified=False, reason=" ", actor=REVIEWER)
        assert await status_of(user) is IdentityStatus.SUBMITTED
        await decide_identity(first.id, verified=False, reason="photo unreadable", actor=REVIEWER)
        rejected = await status_of(user)
        second = await submit_identity(user.id, [PASSPORT])
        resubmitted = await status_of(user)
        history = await IdentityVerification.filter(user_id=user.id).order_by("id")
    assert codes(no_reason) == [(("reason",), "REQUIRED")]
    assert (rejected, resubmitted) == (IdentityStatus.REJECTED, IdentityStatus.SUBMITTED)
    assert [(v.id, v.status, v.reason) for v in history] == [
        (first.id, IdentityStatus.REJECTED, "photo unreadable"),
        (second.id, IdentityStatus.SUBMITTED, None),
    ]


async def test_transitions_are_checked(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        submitted = await submit_identity(user.id, [PASSPORT])
        with pytest.raises(DomainError) as pending:
            await submit_identity(user.id, [PASSPORT])
        await decide_identity(submitted.id, verified=True, reason="ok", actor=REVIEWER)
        with pytest.raises(DomainError) as decided_twice:
            await decide_identity(submitted.id, verified=False, reason="no", actor=REVIEWER)
        with pytest.raises(DomainError) as verified:
            await submit_identity(user.id, [PASSPORT])
        assert await IdentityVerification.all().count() == 1
        assert await status_of(user) is IdentityStatus.VERIFIED
    assert codes(pending) == [((), "INVALID_TRANSITION")]
    assert pending.value.errors[0].message == "the identity is submitted already"
    assert codes(decided_twice) == [(("id",), "INVALID_TRANSITION")]
    assert codes(verified) == [((), "INVALID_TRANSITION")]


async def test_nobody_decides_their_own_case(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        submitted = await submit_identity(user.id, [PASSPORT])
        with pytest.raises(DomainError) as caught:
            await decide_identity(
                submitted.id,
                verified=True,
                reason=None,
                actor=user_with("identity:review", user_id=user.id),
            )
        assert await status_of(user) is IdentityStatus.SUBMITTED
    assert codes(caught) == [(("id",), "SELF_NOT_ALLOWED")]


async def test_unknown_submission(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as caught:
            await decide_identity(404, verified=True, reason=None, actor=REVIEWER)
    assert codes(caught) == [(("id",), "NOT_FOUND")]


BAD_SUBMISSIONS = [
    ([], [(("documents",), "OUT_OF_RANGE")]),
    ([PASSPORT] * 11, [(("documents",), "OUT_OF_RANGE")]),
    (
        [PASSPORT, DocumentSubmission(DocumentKind.OTHER, "", "x" * 501)],
        [
            (("documents", "1", "reference"), "REQUIRED"),
            (("documents", "1", "file_reference"), "TOO_LONG"),
        ],
    ),
    (
        [DocumentSubmission(DocumentKind.PASSPORT, "x" * 101, "f\x00x")],
        [
            (("documents", "0", "reference"), "TOO_LONG"),
            (("documents", "0", "file_reference"), "INVALID"),
        ],
    ),
]


async def test_bad_submissions_change_nothing(acme: TenantRecord) -> None:
    found = []
    async with tenant_scope(acme):
        user = await create_user("al@example.com", "Al")
        for documents, _ in BAD_SUBMISSIONS:
            with pytest.raises(DomainError) as caught:
                await submit_identity(user.id, documents)
            found.append(codes(caught))
        assert await IdentityVerification.all().count() == 0
        assert await IdentityDocument.all().count() == 0
        assert await status_of(user) is IdentityStatus.UNVERIFIED
    assert found == [expected for _, expected in BAD_SUBMISSIONS]
