"""The automated review: each check's outcome with its evidence, the transition it
leads to, the applicant's mail, and that running it again does nothing more."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from schema.audit.models import AuditRecord
from schema.identity.models import User
from schema.merchants.models import (
    DocumentKind,
    Merchant,
    MerchantEvent,
    OnboardingStandard,
    RiskLevel,
    ScreeningFinding,
    WatchListEntry,
    WatchListKind,
)
from schema.merchants.service.bank_details import BankDetails
from schema.merchants.service.screening import Check, screen
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.conftest import mails
from tests.schema.merchants.applications import A_YEAR_ON, IBAN, seal_for, submitted

S = MerchantStatus
TODAY = date.today()
ALL_PASSED = {check: True for check in Check}


async def findings(merchant: Merchant) -> dict[Check, ScreeningFinding]:
    rows = await ScreeningFinding.filter(merchant_id=merchant.id).order_by("id")
    return {Check(row.check_name): row for row in rows}


async def outcome(merchant: Merchant) -> tuple[S, RiskLevel | None, list[dict[str, str]]]:
    stored = await Merchant.get(id=merchant.id)
    return stored.status, stored.risk_level, stored.requested_items


def passed(found: dict[Check, ScreeningFinding]) -> dict[Check, bool]:
    return {check: row.passed for check, row in found.items()}


async def test_a_clean_application_goes_to_a_reviewer_with_low_risk(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant)
        result = await screen(merchant.id, 1)
        found = await findings(merchant)
        assert result is not None
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.LOW, [])
        assert passed(found) == ALL_PASSED
        assert {c: r.severity for c, r in found.items()} == {
            Check.REQUIRED_DOCUMENTS: "return",
            Check.DOCUMENTS_UNEXPIRED: "return",
            Check.DOCUMENTS_NOT_EXPIRING: "medium",
            Check.REGISTRATION_NUMBER_FORMAT: "return",
            Check.REGISTRATION_NUMBER_UNIQUE: "high",
            Check.WATCH_LIST: "high",
            Check.BANK_DETAILS: "return",
            Check.CATEGORY_UNRESTRICTED: "medium",
        }
        assert {r.submission for r in found.values()} == {1}
        assert found[Check.REQUIRED_DOCUMENTS].evidence == {
            "standard_version": 1,
            "required": ["business_licence", "representative_identity", "bank_account_proof"],
            "present": ["bank_account_proof", "business_licence", "representative_identity"],
            "missing": [],
        }
        assert found[Check.REGISTRATION_NUMBER_FORMAT].evidence == {
            "value": "HRB-12345",
            "pattern": r"^[A-Z0-9][A-Z0-9./-]{3,31}$",
            "well_formed": True,
        }
        assert found[Check.BANK_DETAILS].evidence == {
            "method": "iban", "country": "DE", "iban_country": "DE", "merchant_country": "DE",
            "last4": "3000", "problem": None,
        }  # fmt: skip
        assert found[Check.WATCH_LIST].evidence == {
            "compared": {
                "name": {"adas bakery": "business_name"},
                "registration_number": {"HRB12345": "registration_number"},
                "email": {
                    "ada@bakery.example": "contact_email",
                    "@bakery.example": "contact_email",
                },
                "phone": {"+4930123456": "contact_phone"},
            },
            "hits": [],
        }
        [event] = await MerchantEvent.filter(merchant_id=merchant.id)
        assert (event.action, event.actor, event.to_status) == (
            "screen_pass", "system:unknown", "in_review",
        )  # fmt: skip
        assert event.details == {"submission": 1, "risk_level": "low"}
        assert await AuditRecord.filter(operation="merchantScreenPass").count() == 1
        assert await mails() == []  # the applicant hears on the decision


async def test_missing_documents_send_it_back_with_the_list_and_a_mail(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(
            applicant, documents={DocumentKind.REPRESENTATIVE_IDENTITY: A_YEAR_ON}
        )
        await screen(merchant.id, 1)
        found = await findings(merchant)
        wanted = [
            {"item": "document:business_licence", "message": "add the business licence"},
            {"item": "document:bank_account_proof", "message": "add the bank account proof"},
        ]
        assert await outcome(merchant) == (S.NEEDS_INFORMATION, None, wanted)
        assert passed(found) == ALL_PASSED | {Check.REQUIRED_DOCUMENTS: False}
        assert found[Check.REQUIRED_DOCUMENTS].evidence["missing"] == [
            "business_licence",
            "bank_account_proof",
        ]
        assert await mails() == [
            {
                "to": "ada@example.com",
                "template": "merchant_information_requested",
                "params": {
                    "tenant": "Acme Ltd",
                    "full_name": "Ada Applicant",
                    "business_name": "Ada's Bakery",
                    "items": "- add the business licence (document:business_licence)\n"
                    "- add the bank account proof (document:bank_account_proof)",
                },
            }
        ]


async def test_expired_and_undated_documents_are_sent_back(
    acme: TenantRecord, applicant: User
) -> None:
    yesterday = TODAY - timedelta(days=1)
    async with tenant_scope(acme):
        merchant = await submitted(
            applicant,
            documents={
                DocumentKind.BUSINESS_LICENCE: yesterday,
                DocumentKind.REPRESENTATIVE_IDENTITY: None,  # the standards say it expires
                DocumentKind.BANK_ACCOUNT_PROOF: None,
            },
        )
        await screen(merchant.id, 1)
        found = await findings(merchant)
        status, _, items = await outcome(merchant)
    assert status is S.NEEDS_INFORMATION
    assert items == [
        {"item": "document:business_licence", "message": "the business licence has expired"},
        {
            "item": "document:representative_identity",
            "message": "give the representative identity's expiry date",
        },
    ]
    assert found[Check.DOCUMENTS_UNEXPIRED].evidence == {
        "checked_on": TODAY.isoformat(),
        "documents": [
            {"kind": "business_licence", "expires_on": yesterday.isoformat()},
            {"kind": "representative_identity", "expires_on": None},
            {"kind": "bank_account_proof", "expires_on": None},
        ],
        "expired": [{"kind": "business_licence", "expires_on": yesterday.isoformat()}],
        "undated": [{"kind": "representative_identity", "expires_on": None}],
    }
    assert passed(found)[Check.REQUIRED_DOCUMENTS] is True


async def test_a_document_expiring_within_30_days_means_medium_risk(
    acme: TenantRecord, applicant: User
) -> None:
    soon = TODAY + timedelta(days=10)
    async with tenant_scope(acme):
        merchant = await submitted(
            applicant,
            documents={
                DocumentKind.BUSINESS_LICENCE: None,
                DocumentKind.REPRESENTATIVE_IDENTITY: soon,
                DocumentKind.BANK_ACCOUNT_PROOF: None,
            },
        )
        await screen(merchant.id, 1)
        found = await findings(merchant)
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.MEDIUM, [])
    assert passed(found) == ALL_PASSED | {Check.DOCUMENTS_NOT_EXPIRING: False}
    assert found[Check.DOCUMENTS_NOT_EXPIRING].evidence == {
        "checked_on": TODAY.isoformat(),
        "until": (TODAY + timedelta(days=30)).isoformat(),
        "expiring": [{"kind": "representative_identity", "expires_on": soon.isoformat()}],
    }


@pytest.mark.parametrize("number", ["hrb 1", None])
async def test_a_malformed_or_missing_registration_number_is_sent_back(
    acme: TenantRecord, applicant: User, number: str | None
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant, registration_number=number)
        await screen(merchant.id, 1)
        found = await findings(merchant)
        status, _, items = await outcome(merchant)
    assert status is S.NEEDS_INFORMATION
    assert items == [
        {
            "item": "registration_number",
            "message": "give the business's registration number as the register issued it",
        }
    ]
    assert found[Check.REGISTRATION_NUMBER_FORMAT].evidence["well_formed"] is False
    assert found[Check.REGISTRATION_NUMBER_FORMAT].evidence["value"] == number


async def test_a_registration_number_another_merchant_holds_means_high_risk(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        other = await User.create(email="bob@example.com", full_name="Bob")
        active = await submitted(other, status=S.ACTIVE, business_name="Bob's")
        # Applications that hold no number: a draft, a withdrawn and a rejected one.
        for status in (S.DRAFT, S.WITHDRAWN, S.REJECTED):
            await submitted(other, status=status, business_name=f"Bob {status}")
        merchant = await submitted(applicant)
        await screen(merchant.id, 1)
        found = await findings(merchant)
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.HIGH, [])
    assert passed(found) == ALL_PASSED | {Check.REGISTRATION_NUMBER_UNIQUE: False}
    assert found[Check.REGISTRATION_NUMBER_UNIQUE].evidence == {
        "value": "HRB-12345",
        "held_by": [{"merchant_id": active.id, "status": "active"}],
    }


@pytest.mark.parametrize(
    ("kind", "listed", "field"),
    [
        (WatchListKind.NAME, "adas bakery", "business_name"),  # "Ada's Bakery" normalized
        (WatchListKind.EMAIL, "@bakery.example", "contact_email"),
        (WatchListKind.EMAIL, "ada@bakery.example", "contact_email"),
        (WatchListKind.PHONE, "+4930123456", "contact_phone"),
        (WatchListKind.REGISTRATION_NUMBER, "HRB12345", "registration_number"),
    ],
)
async def test_a_watch_list_match_means_high_risk_with_the_hit_as_evidence(
    acme: TenantRecord, applicant: User, kind: WatchListKind, listed: str, field: str
) -> None:
    async with tenant_scope(acme):
        entry = await WatchListEntry.create(
            kind=kind, value=listed, reason="chargebacks", created_by="user:1",
            created_at=datetime.now(UTC),
        )  # fmt: skip
        merchant = await submitted(applicant, legal_name="ADA’S  BAKERY, Ltd.")  # noqa: RUF001
        await screen(merchant.id, 1)
        found = await findings(merchant)
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.HIGH, [])
    assert passed(found) == ALL_PASSED | {Check.WATCH_LIST: False}
    assert found[Check.WATCH_LIST].evidence["hits"] == [
        {"entry_id": entry.id, "kind": str(kind), "value": listed, "reason": "chargebacks",
         "field": field}
    ]  # fmt: skip


BAD_BANKS: list[tuple[BankDetails | None, str]] = [
    (
        BankDetails(account_holder="Ada", country="DE", iban="DE89370400440532013001"),
        "the IBAN's check digits are wrong",
    ),
    (  # right check digits, one digit short
        BankDetails(account_holder="Ada", country="DE", iban="DE5137040044053201300"),
        "not an IBAN of the format DE uses",
    ),
    (
        BankDetails(account_holder="Ada", country="DE", iban="XX0837040044053201300"),
        "no country issues IBANs starting with 'XX'",
    ),
    (
        BankDetails(account_holder="Ada", country="FR", iban=IBAN),
        "an IBAN of a bank in FR starts with FR",
    ),
    (
        BankDetails(
            account_holder="Ada", country="US", account_number="1234", bank_code="021000021"
        ),
        "an account number has 5-20 digits",
    ),
    (
        BankDetails(account_holder="Ada", country="US", account_number="000123456789"),
        "give the bank code (routing number, sort code...) with the account number",
    ),
    (None, "give the bank account the payouts go to"),
]


@pytest.mark.parametrize(("bank", "problem"), BAD_BANKS)
async def test_implausible_bank_details_are_sent_back(
    acme: TenantRecord, applicant: User, bank: BankDetails | None, problem: str
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant, bank=bank)
        await screen(merchant.id, 1)
        found = await findings(merchant)
        status, _, items = await outcome(merchant)
    assert (status, items) == (S.NEEDS_INFORMATION, [{"item": "bank_details", "message": problem}])
    assert passed(found) == ALL_PASSED | {Check.BANK_DETAILS: False}
    assert found[Check.BANK_DETAILS].evidence["problem"] == problem


async def test_an_account_number_with_a_bank_code_is_plausible(
    acme: TenantRecord, applicant: User
) -> None:
    bank = BankDetails(
        account_holder="Ada", country="US", account_number="000123456789", bank_code="021000021"
    )
    async with tenant_scope(acme):
        merchant = await submitted(applicant, bank=bank, country="US")
        await screen(merchant.id, 1)
        found = await findings(merchant)
    assert found[Check.BANK_DETAILS].evidence == {
        "method": "account_number", "bank_code": "021000021", "country": "US",
        "merchant_country": "US", "last4": "6789", "problem": None,
    }  # fmt: skip


async def test_bank_details_sealed_for_another_merchant_do_not_open(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        donor = await submitted(applicant, business_name="Donor")
        merchant = await submitted(applicant)
        await Merchant.filter(id=merchant.id).update(bank_details_sealed=donor.bank_details_sealed)
        await screen(merchant.id, 1)
        status, _, items = await outcome(merchant)
    assert status is S.NEEDS_INFORMATION
    assert items == [
        {"item": "bank_details", "message": "the bank details could not be read: enter them again"}
    ]


async def test_a_restricted_category_means_medium_risk(acme: TenantRecord, applicant: User) -> None:
    async with tenant_scope(acme):
        await OnboardingStandard.filter(version=1).update(restricted_categories=["food"])
        merchant = await submitted(applicant)
        await screen(merchant.id, 1)
        found = await findings(merchant)
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.MEDIUM, [])
    assert found[Check.CATEGORY_UNRESTRICTED].evidence == {
        "category": "food",
        "restricted": ["food"],
    }


async def test_fixable_failures_win_over_risk(acme: TenantRecord, applicant: User) -> None:
    async with tenant_scope(acme):
        await WatchListEntry.create(
            kind=WatchListKind.NAME, value="adas bakery", reason="fraud", created_by="user:1",
            created_at=datetime.now(UTC),
        )  # fmt: skip
        merchant = await submitted(applicant, bank=None)
        await screen(merchant.id, 1)
        found = await findings(merchant)
        status, risk, _ = await outcome(merchant)
    assert (status, risk) == (S.NEEDS_INFORMATION, None)
    assert passed(found) == ALL_PASSED | {Check.WATCH_LIST: False, Check.BANK_DETAILS: False}


async def snapshot(merchant: Merchant) -> tuple[Any, ...]:
    stored = await Merchant.get(id=merchant.id)
    rows = await ScreeningFinding.filter(merchant_id=merchant.id).order_by("check_name")
    events = await MerchantEvent.filter(merchant_id=merchant.id).count()
    found = [(r.check_name, r.passed, r.evidence) for r in rows]
    return stored.status, stored.version, found, events, len(await mails())


async def test_running_twice_does_its_work_once(acme: TenantRecord, applicant: User) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant, bank=None)
        assert await screen(merchant.id, 1) is not None
        once = await snapshot(merchant)
        assert await screen(merchant.id, 1) is None
        assert await snapshot(merchant) == once
    assert once[0] is S.NEEDS_INFORMATION
    assert (len(once[2]), once[3], once[4]) == (len(Check), 1, 1)


async def test_a_stale_submission_or_unknown_merchant_is_a_no_op(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant)
        await Merchant.filter(id=merchant.id).update(submission_count=2)
        before = await snapshot(merchant)
        assert await screen(merchant.id, 1) is None
        assert await screen(merchant.id + 1000, 1) is None
        assert await snapshot(merchant) == before
    assert before[2:] == ([], 0, 0)


async def test_a_retry_rewrites_the_findings_of_its_submission(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant)
        # What an earlier, non-transactional attempt could have left behind.
        await ScreeningFinding.create(
            merchant_id=merchant.id, submission=1, check_name="watch_list", passed=False,
            severity="high", evidence={"stale": True}, checked_at=datetime.now(UTC),
        )  # fmt: skip
        await screen(merchant.id, 1)
        found = await findings(merchant)
    assert passed(found) == ALL_PASSED
    assert found[Check.WATCH_LIST].evidence["hits"] == []


async def test_the_latest_submissions_findings_are_kept_apart(
    acme: TenantRecord, applicant: User
) -> None:
    async with tenant_scope(acme):
        merchant = await submitted(applicant, bank=None)
        await screen(merchant.id, 1)
        await seal_for(merchant, BankDetails(account_holder="Ada", country="DE", iban=IBAN))
        await Merchant.filter(id=merchant.id).update(status=S.SUBMITTED, submission_count=2)
        await screen(merchant.id, 2)
        rows = await ScreeningFinding.filter(merchant_id=merchant.id, check_name="bank_details")
        assert await outcome(merchant) == (S.IN_REVIEW, RiskLevel.LOW, [])
    assert sorted((r.submission, r.passed) for r in rows) == [(1, False), (2, True)]
