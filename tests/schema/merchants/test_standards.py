"""Onboarding standards: public to read, versioned on every change, checked as a whole."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schema.audit.models import AuditRecord
from schema.core.principal import ANONYMOUS
from schema.merchants.models import MerchantAgreement, OnboardingStandard
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import codes, gql
from tests.schema.principals import user_with

ADMIN = user_with("merchants:configure", user_id=7)
STANDARDS = """{
  merchantOnboardingStandards {
    version requiredFields documents { kind required expires } acceptedTypes maxFileBytes
    categories restrictedCategories registrationNumberPattern fee { amount currency }
    agreementVersion reason
  }
}"""
UPDATE = """
mutation U($input: MerchantOnboardingStandardsInput!, $reason: String!) {
  merchantOnboardingStandardsUpdate(input: $input, reason: $reason) {
    standards { version categories fee { amount currency } documents { kind required } }
    errors { field code message }
  }
}"""
HISTORY = """query H($first: Int, $after: String) {
  merchantOnboardingStandardsHistory(first: $first, after: $after) {
    nodes { version reason categories } pageInfo { hasNextPage endCursor }
  }
}"""


async def test_anyone_reads_the_current_standards(acme: TenantRecord) -> None:
    payload = await gql(acme, ANONYMOUS, STANDARDS)
    assert payload["data"]["merchantOnboardingStandards"] == {
        "version": 1,
        "requiredFields": [
            "BUSINESS_NAME", "LEGAL_NAME", "REGISTRATION_NUMBER", "CATEGORY", "CONTACT_NAME",
            "CONTACT_EMAIL", "CONTACT_PHONE", "ADDRESS_LINE1", "CITY", "POSTAL_CODE",
            "COUNTRY", "BANK_DETAILS",
        ],
        "documents": [
            {"kind": "BUSINESS_LICENCE", "required": True, "expires": False},
            {"kind": "REPRESENTATIVE_IDENTITY", "required": True, "expires": True},
            {"kind": "BANK_ACCOUNT_PROOF", "required": True, "expires": False},
        ],
        "acceptedTypes": ["application/pdf", "image/jpeg", "image/png"],
        "maxFileBytes": 10 * 1024 * 1024,
        "categories": [],
        "restrictedCategories": None,  # the tenant's assessment: not for applicants
        "registrationNumberPattern": "^[A-Z0-9][A-Z0-9./-]{3,31}$",
        "fee": None,
        "agreementVersion": None,
        "reason": "platform defaults",
    }  # fmt: skip
    admin_view = await gql(acme, ADMIN, STANDARDS)
    assert admin_view["data"]["merchantOnboardingStandards"]["restrictedCategories"] == []


async def test_the_latest_published_agreement_is_named(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        for label, day in (("2026-01", 1), ("2026-03", 3)):
            await MerchantAgreement.create(
                version=label,
                title="Cooperation",
                body="...",
                body_sha256="0" * 64,
                published_at=datetime(2026, 1, day, tzinfo=UTC),
                published_by="user:7",
            )
    payload = await gql(
        acme, user_with(user_id=3), "{ merchantOnboardingStandards { agreementVersion } }"
    )
    assert payload["data"]["merchantOnboardingStandards"] == {"agreementVersion": "2026-03"}


async def test_a_change_writes_the_next_version_and_keeps_the_old(acme: TenantRecord) -> None:
    given = {
        "categories": ["food", "crafts"],
        "fee": {"amount": "49.90", "currency": "EUR"},
        "documents": [{"kind": "BUSINESS_LICENCE"}, {"kind": "OTHER", "required": False}],
    }
    payload = await gql(acme, ADMIN, UPDATE, input=given, reason="launch in Europe")
    assert payload["data"]["merchantOnboardingStandardsUpdate"] == {
        "standards": {
            "version": 2,
            "categories": ["food", "crafts"],
            "fee": {"amount": "49.90", "currency": "EUR"},
            "documents": [
                {"kind": "BUSINESS_LICENCE", "required": True},
                {"kind": "OTHER", "required": False},
            ],
        },
        "errors": [],
    }
    async with tenant_scope(acme):
        first, second = await OnboardingStandard.all().order_by("version")
        audit = await AuditRecord.filter(operation="merchantOnboardingStandardsUpdate").get()
    assert (first.categories, first.fee_amount, first.reason) == ([], None, "platform defaults")
    assert (second.fee_amount, second.fee_currency, second.created_by) == (4990, "EUR", "user:7")
    # What was not given is copied from version 1.
    assert (second.required_fields, second.max_file_bytes) == (
        first.required_fields,
        first.max_file_bytes,
    )
    assert audit.targets == '["MerchantOnboardingStandard:2"]'

    removed = await gql(acme, ADMIN, UPDATE, input={"fee": None}, reason="no fee after all")
    assert removed["data"]["merchantOnboardingStandardsUpdate"]["standards"]["fee"] is None
    history = await gql(acme, ADMIN, HISTORY, first=2)
    assert history["data"]["merchantOnboardingStandardsHistory"]["nodes"] == [
        {"version": 3, "reason": "no fee after all", "categories": ["food", "crafts"]},
        {"version": 2, "reason": "launch in Europe", "categories": ["food", "crafts"]},
    ]
    cursor = history["data"]["merchantOnboardingStandardsHistory"]["pageInfo"]["endCursor"]
    rest = await gql(acme, ADMIN, HISTORY, first=2, after=cursor)
    assert rest["data"]["merchantOnboardingStandardsHistory"] == {
        "nodes": [{"version": 1, "reason": "platform defaults", "categories": []}],
        "pageInfo": {"hasNextPage": False, "endCursor": rest["data"][
            "merchantOnboardingStandardsHistory"]["pageInfo"]["endCursor"]},
    }  # fmt: skip


async def test_the_same_standards_again_are_nothing_to_change(acme: TenantRecord) -> None:
    same = {
        "maxFileBytes": 10 * 1024 * 1024,
        "categories": [],
        "fee": None,
        "requiredFields": [  # the same set in another order
            "BANK_DETAILS", "BUSINESS_NAME", "LEGAL_NAME", "REGISTRATION_NUMBER", "CATEGORY",
            "CONTACT_NAME", "CONTACT_EMAIL", "CONTACT_PHONE", "ADDRESS_LINE1", "CITY",
            "POSTAL_CODE", "COUNTRY",
        ],
    }  # fmt: skip
    payload = await gql(acme, ADMIN, UPDATE, input=same, reason="again")
    assert payload["data"]["merchantOnboardingStandardsUpdate"]["errors"] == [
        {
            "field": None,
            "code": "NOTHING_TO_CHANGE",
            "message": "these are the standards in force already",
        }
    ]
    empty = await gql(acme, ADMIN, UPDATE, input={}, reason="nothing")
    assert [e["code"] for e in empty["data"]["merchantOnboardingStandardsUpdate"]["errors"]] == [
        "NOTHING_TO_CHANGE"
    ]
    async with tenant_scope(acme):
        assert await OnboardingStandard.all().count() == 1


async def test_every_bad_setting_is_reported_and_nothing_written(acme: TenantRecord) -> None:
    bad = {
        "requiredFields": ["CITY", "CITY"],
        "documents": [{"kind": "OTHER"}, {"kind": "OTHER"}],
        "acceptedTypes": ["application/pdf", "text/html"],
        "maxFileBytes": 100,
        "categories": ["food", " "],
        "restrictedCategories": ["weapons"],
        "registrationNumberPattern": "([A-Z]",
        "fee": {"amount": "1.999", "currency": "EUR"},
    }
    payload = await gql(acme, ADMIN, UPDATE, input=bad, reason=" ")
    errors = payload["data"]["merchantOnboardingStandardsUpdate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["reason"], "REQUIRED"),
        (["input", "requiredFields"], "INVALID"),
        (["input", "documents"], "INVALID"),
        (["input", "acceptedTypes"], "INVALID"),
        (["input", "maxFileBytes"], "OUT_OF_RANGE"),
        (["input", "categories", "1"], "REQUIRED"),
        (["input", "registrationNumberPattern"], "INVALID"),
        (["input", "fee"], "INVALID"),
        (["input", "restrictedCategories"], "INVALID"),
    ]
    async with tenant_scope(acme):
        assert await OnboardingStandard.all().count() == 1


async def test_limits_of_the_settings(acme: TenantRecord) -> None:
    cases = [
        ({"maxFileBytes": 50 * 1024 * 1024 + 1}, ["input", "maxFileBytes"], "OUT_OF_RANGE"),
        ({"registrationNumberPattern": "A" * 201}, ["input", "registrationNumberPattern"],
         "TOO_LONG"),
        ({"fee": {"amount": "0", "currency": "EUR"}}, ["input", "fee", "amount"], "OUT_OF_RANGE"),
        ({"fee": {"amount": "5", "currency": "XYZ"}}, ["input", "fee"], "INVALID"),
        ({"acceptedTypes": []}, ["input", "acceptedTypes"], "INVALID"),
    ]  # fmt: skip
    for given, field, code in cases:
        payload = await gql(acme, ADMIN, UPDATE, input=given, reason="try")
        errors = payload["data"]["merchantOnboardingStandardsUpdate"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], given
    webp = await gql(acme, ADMIN, UPDATE, input={"acceptedTypes": ["image/webp"]}, reason="ok")
    assert webp["data"]["merchantOnboardingStandardsUpdate"]["errors"] == []


async def test_changing_and_listing_versions_needs_the_permission(acme: TenantRecord) -> None:
    reader = user_with("merchants:read", user_id=8)
    refused = await gql(acme, reader, UPDATE, input={"categories": ["x"]}, reason="r")
    assert codes(refused) == ["FORBIDDEN"]
    assert codes(await gql(acme, reader, HISTORY)) == ["FORBIDDEN"]
    async with tenant_scope(acme):
        assert await OnboardingStandard.all().count() == 1


async def test_fee_amounts_come_back_in_the_currency_precision(acme: TenantRecord) -> None:
    payload = await gql(
        acme, ADMIN, UPDATE, input={"fee": {"amount": "5000", "currency": "JPY"}}, reason="yen"
    )
    fee = payload["data"]["merchantOnboardingStandardsUpdate"]["standards"]["fee"]
    assert fee == {"amount": "5000", "currency": "JPY"}
    async with tenant_scope(acme):
        latest = await OnboardingStandard.get(version=2)
    assert (latest.fee_amount, Decimal(fee["amount"])) == (5000, Decimal(5000))
