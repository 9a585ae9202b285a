"""Applying through GraphQL: drafts saved and completed later, submission against the
standards, the owner's alone, and bank details that never come back."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
from tortoise import connections

from schema.core.nodes import to_global_id
from schema.core.principal import Principal, PrincipalKind
from schema.core.secrets import NotOpenable
from schema.identity.models import User
from schema.merchants.models import Merchant, MerchantDocument, MerchantEvent, OnboardingStandard
from schema.merchants.service.bank_details import BankDetails, open_bank_details
from schema.merchants.status import MerchantStatus
from tenants.backends import TENANT_ALIAS
from tenants.outbox import JobOutbox
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import gql
from tests.schema.merchants.applying import COMPLETE, IBAN, add_documents, move
from tests.schema.merchants.conftest import make_user
from tests.schema.principals import user_with

S = MerchantStatus
FIELDS = """id status businessName legalName registrationNumber category website contactEmail
contactPhone address { line1 city postalCode country } bankAccountLast4 submissionCount
standardVersion capabilities"""
CREATE = f"""mutation C($input: MerchantApplicationInput!) {{
  merchantApplicationCreate(input: $input) {{
    merchant {{ {FIELDS} }} errors {{ field code message }}
  }}
}}"""
UPDATE = f"""mutation U($id: ID!, $input: MerchantApplicationInput!) {{
  merchantApplicationUpdate(id: $id, input: $input) {{
    merchant {{ {FIELDS} }} errors {{ field code message }}
  }}
}}"""
SUBMIT = """mutation S($id: ID!) {
  merchantApplicationSubmit(id: $id) {
    merchant { status submissionCount standardVersion } errors { field code message }
  }
}"""
WITHDRAW = """mutation W($id: ID!, $reason: String!) {
  merchantApplicationWithdraw(id: $id, reason: $reason) {
    merchant { status } errors { field code }
  }
}"""
REOPEN = """mutation R($id: ID!) {
  merchantApplicationReopen(id: $id) { merchant { status } errors { field code } }
}"""


def errors_of(payload: dict[str, Any], name: str) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["data"][name]["errors"]]


async def create(tenant: TenantRecord, principal: Principal, **given: Any) -> dict[str, Any]:
    payload = await gql(tenant, principal, CREATE, input=given)
    result: dict[str, Any] = payload["data"]["merchantApplicationCreate"]
    return result


async def draft_of(tenant: TenantRecord, principal: Principal, **given: Any) -> str:
    created = await create(tenant, principal, **given)
    assert created["errors"] == []
    merchant_id: str = created["merchant"]["id"]
    return merchant_id


async def complete_application(tenant: TenantRecord, principal: Principal) -> str:
    merchant_id = await draft_of(tenant, principal, **COMPLETE)
    async with tenant_scope(tenant):
        await add_documents(await Merchant.get(owner_user_id=principal.user_id))
    return merchant_id


@pytest.fixture
async def ada(acme: TenantRecord) -> Principal:
    async with tenant_scope(acme):
        user = await make_user("ada@example.com")
    return user_with(user_id=user.id)


@pytest.fixture
async def bob(acme: TenantRecord) -> Principal:
    async with tenant_scope(acme):
        user = await make_user("bob@example.com", "Bob Other")
    return user_with(user_id=user.id)


async def test_a_draft_needs_only_a_name_and_is_completed_later(
    acme: TenantRecord, ada: Principal
) -> None:
    created = await create(acme, ada, businessName="  Ada's Bakery ")
    merchant = created["merchant"]
    assert (created["errors"], merchant["status"], merchant["businessName"]) == (
        [],
        "DRAFT",
        "Ada's Bakery",
    )
    assert merchant["capabilities"] == ["EDIT_APPLICATION"]
    rest = {k: v for k, v in COMPLETE.items() if k != "businessName"}
    payload = await gql(acme, ada, UPDATE, id=merchant["id"], input=rest)
    saved = payload["data"]["merchantApplicationUpdate"]
    assert saved["errors"] == []
    assert {k: v for k, v in saved["merchant"].items() if k not in ("id", "capabilities")} == {
        "status": "DRAFT",
        "businessName": "Ada's Bakery",
        "legalName": "Ada's Bakery GmbH",
        "registrationNumber": "HRB12345",
        "category": "food",
        "website": "https://bakery.example",
        "contactEmail": "ada@bakery.example",
        "contactPhone": "+442079460958",
        "address": {
            "line1": "1 Mill Lane",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "DE",
        },
        "bankAccountLast4": "3000",
        "submissionCount": 0,
        "standardVersion": None,
    }
    cleared = await gql(acme, ada, UPDATE, id=merchant["id"], input={"website": ""})
    assert cleared["data"]["merchantApplicationUpdate"]["merchant"]["website"] is None
    async with tenant_scope(acme):
        history = await MerchantEvent.all().order_by("id").values_list("action", "details")
    assert history == [
        ("application_create", {"fields": ["business_name"]}),
        (
            "application_update",
            {
                "fields": [
                    "address_line1", "bank_details", "category", "city", "contact_email",
                    "contact_name", "contact_phone", "country", "description", "legal_name",
                    "postal_code", "registration_number", "website",
                ]
            },
        ),
        ("application_update", {"fields": ["website"]}),
    ]  # fmt: skip


async def test_every_bad_field_is_reported_at_once_and_nothing_written(
    acme: TenantRecord, ada: Principal
) -> None:
    bad = {
        "businessName": " ",
        "legalName": "x" * 201,
        "registrationNumber": "R" * 65,
        "website": "javascript:alert(1)",
        "contactEmail": "not an email",
        "contactPhone": "12",
        "address": {"city": "Bad\x00City", "country": "XX"},
        "bankDetails": {"accountHolder": "", "country": "DE", "iban": "DE00 1234"},
    }
    created = await create(acme, ada, **bad)
    assert created["merchant"] is None
    assert [(e["field"], e["code"]) for e in created["errors"]] == [
        (["input", "businessName"], "REQUIRED"),
        (["input", "legalName"], "TOO_LONG"),
        (["input", "registrationNumber"], "TOO_LONG"),
        (["input", "address", "city"], "INVALID"),
        (["input", "address", "country"], "INVALID"),
        (["input", "contactEmail"], "INVALID"),
        (["input", "contactPhone"], "INVALID"),
        (["input", "website"], "INVALID"),
        (["input", "bankDetails", "accountHolder"], "REQUIRED"),
        (["input", "bankDetails", "iban"], "INVALID"),
    ]
    async with tenant_scope(acme):
        assert await Merchant.all().count() == 0
        assert await MerchantEvent.all().count() == 0


@pytest.mark.parametrize(
    ("bank", "field", "code"),
    [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, ["input", "bankDetails", "iban"], "INVALID"),
        ({"iban": "GB82 WEST 1234 5698 7654 32"}, ["input", "bankDetails", "iban"], "INVALID"),
        ({"iban": IBAN, "accountNumber": "12345678"}, ["input", "bankDetails"], "INVALID"),
        ({}, ["input", "bankDetails"], "REQUIRED"),
        ({"accountNumber": "12345678"}, ["input", "bankDetails", "bankCode"], "INVALID"),
        ({"accountNumber": "1", "bankCode": "40-30-20"}, ["input", "bankDetails", "accountNumber"],
         "INVALID"),
    ],
)  # fmt: skip
async def test_bank_details_are_checked(
    acme: TenantRecord, ada: Principal, bank: dict[str, str], field: list[str], code: str
) -> None:
    given = {"accountHolder": "Ada", "country": "DE", **bank}
    created = await create(acme, ada, businessName="Ada's", bankDetails=given)
    assert [(e["field"], e["code"]) for e in created["errors"]] == [(field, code)]


async def test_bank_details_are_sealed_at_rest_and_never_returned(
    acme: TenantRecord, ada: Principal
) -> None:
    given = {
        "accountHolder": "Ada",
        "country": "GB",
        "accountNumber": "3141 5926",
        "bankCode": "40-30-20",
    }
    created = await create(acme, ada, businessName="Ada's", bankDetails=given)
    assert created["merchant"]["bankAccountLast4"] == "5926"
    assert "31415926" not in json.dumps(created)
    assert "403020" not in json.dumps(created)
    async with tenant_scope(acme):
        merchant = await Merchant.get(owner_user_id=ada.user_id)
        rows = await connections.get(TENANT_ALIAS).execute_query_dict(
            "SELECT bank_details_sealed, bank_account_last4 FROM merchant"
        )
        opened = open_bank_details(merchant)
        other = await Merchant.create(owner_user_id=ada.user_id, business_name="Other")
        other.bank_details_sealed = merchant.bank_details_sealed
        with pytest.raises(NotOpenable):
            open_bank_details(other)  # copied onto another merchant, it does not open
    sealed = rows[0]["bank_details_sealed"]
    assert sealed.startswith("v1.")
    assert "31415926" not in sealed
    assert "Ada" not in sealed
    assert rows[0]["bank_account_last4"] == "5926"
    assert opened == BankDetails("Ada", "GB", None, "31415926", "403020")
    # Nothing in the schema could return them.
    fields = await gql(acme, ada, '{ __type(name: "Merchant") { fields { name } } }')
    names = {f["name"] for f in fields["data"]["__type"]["fields"]}
    assert not {n for n in names if "bank" in n.lower()} - {"bankAccountLast4"}


async def test_one_open_application_per_user(acme: TenantRecord, ada: Principal) -> None:
    merchant_id = await draft_of(acme, ada, businessName="First")
    second = await create(acme, ada, businessName="Second")
    assert [(e["field"], e["code"]) for e in second["errors"]] == [(None, "ALREADY_APPLIED")]
    await gql(acme, ada, WITHDRAW, id=merchant_id, reason="changed my mind")
    again = await create(acme, ada, businessName="Second")
    assert (again["errors"], again["merchant"]["status"]) == ([], "DRAFT")


async def test_two_applications_at_once_only_one_is_opened(
    acme: TenantRecord, ada: Principal
) -> None:
    results = await asyncio.gather(
        *(create(acme, ada, businessName=name) for name in ("First", "Second", "Third"))
    )
    outcomes = sorted([e["code"] for e in result["errors"]] for result in results)
    assert outcomes == [[], ["ALREADY_APPLIED"], ["ALREADY_APPLIED"]]
    async with tenant_scope(acme):
        assert await Merchant.filter(owner_user_id=ada.user_id).count() == 1


async def test_a_client_acting_as_itself_cannot_apply(acme: TenantRecord) -> None:
    client = Principal(PrincipalKind.CLIENT, client_id="srv")
    created = await create(acme, client, businessName="Bot's")
    assert [(e["field"], e["code"]) for e in created["errors"]] == [(None, "NOT_A_USER")]


async def test_submitting_with_everything_missing_lists_every_item(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await draft_of(acme, ada, businessName="Ada's")
    payload = await gql(acme, ada, SUBMIT, id=merchant_id)
    assert errors_of(payload, "merchantApplicationSubmit") == [
        (["input", "legalName"], "INCOMPLETE"),
        (["input", "registrationNumber"], "INCOMPLETE"),
        (["input", "category"], "INCOMPLETE"),
        (["input", "contactName"], "INCOMPLETE"),
        (["input", "contactEmail"], "INCOMPLETE"),
        (["input", "contactPhone"], "INCOMPLETE"),
        (["input", "address", "line1"], "INCOMPLETE"),
        (["input", "address", "city"], "INCOMPLETE"),
        (["input", "address", "postalCode"], "INCOMPLETE"),
        (["input", "address", "country"], "INCOMPLETE"),
        (["input", "bankDetails"], "INCOMPLETE"),
        (["documents", "businessLicence"], "INCOMPLETE"),
        (["documents", "representativeIdentity"], "INCOMPLETE"),
        (["documents", "bankAccountProof"], "INCOMPLETE"),
    ]
    async with tenant_scope(acme):
        stored = await Merchant.get(owner_user_id=ada.user_id)
        assert await JobOutbox.filter(actor="merchants.screen").count() == 0
    assert (stored.status, stored.version, stored.submission_count) == (S.DRAFT, 1, 0)


async def test_submission_checks_number_documents_and_category_against_current_standards(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await draft_of(acme, ada, **COMPLETE)
    async with tenant_scope(acme):
        documents = await add_documents(await Merchant.get(owner_user_id=ada.user_id))
        yesterday = date.today() - timedelta(days=1)  # a year went by
        await MerchantDocument.filter(id=documents[1].id).update(expires_on=yesterday)
        current = await OnboardingStandard.get(version=1)
        await OnboardingStandard.create(
            **{f: getattr(current, f) for f in ("required_fields", "documents", "accepted_types",
                                                "max_file_bytes", "restricted_categories")},
            version=2,
            categories=["crafts"],
            registration_number_pattern=r"^[0-9]{8}$",
            created_at=current.created_at,
            created_by="user:7",
        )  # fmt: skip
    payload = await gql(acme, ada, SUBMIT, id=merchant_id)
    assert errors_of(payload, "merchantApplicationSubmit") == [
        (["input", "registrationNumber"], "INVALID"),
        (["input", "category"], "CATEGORY_NOT_ACCEPTED"),
        (["documents", "representativeIdentity"], "DOCUMENT_EXPIRED"),
    ]


async def test_a_complete_application_goes_to_the_automated_review(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await complete_application(acme, ada)
    payload = await gql(acme, ada, SUBMIT, id=merchant_id)
    assert payload["data"]["merchantApplicationSubmit"] == {
        "merchant": {"status": "SUBMITTED", "submissionCount": 1, "standardVersion": 1},
        "errors": [],
    }
    async with tenant_scope(acme):
        merchant = await Merchant.get(owner_user_id=ada.user_id)
        job = await JobOutbox.get(actor="merchants.screen")
        event = await MerchantEvent.filter(merchant_id=merchant.id).order_by("-id").first()
    assert job.decoded_args() == {"merchant_id": merchant.id, "submission": 1}
    assert merchant.submitted_at is not None
    assert (event.action, event.from_status, event.to_status) == ("submit", "draft", "submitted")


async def test_illegal_steps_are_refused_and_change_nothing(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await complete_application(acme, ada)
    reopened = await gql(acme, ada, REOPEN, id=merchant_id)  # a draft is open already
    assert errors_of(reopened, "merchantApplicationReopen") == [(None, "INVALID_TRANSITION")]
    await gql(acme, ada, SUBMIT, id=merchant_id)
    async with tenant_scope(acme):
        before = await Merchant.get(owner_user_id=ada.user_id)
        events = await MerchantEvent.all().count()
    refused = {
        "merchantApplicationUpdate": await gql(
            acme, ada, UPDATE, id=merchant_id, input={"businessName": "Later"}
        ),
        "merchantApplicationSubmit": await gql(acme, ada, SUBMIT, id=merchant_id),
        "merchantApplicationReopen": await gql(acme, ada, REOPEN, id=merchant_id),
    }
    for name, payload in refused.items():
        assert errors_of(payload, name) == [(None, "INVALID_TRANSITION")], name
    async with tenant_scope(acme):
        after = await Merchant.get(owner_user_id=ada.user_id)
        assert await MerchantEvent.all().count() == events
        assert await JobOutbox.filter(actor="merchants.screen").count() == 1
    assert (after.status, after.version, after.business_name) == (
        before.status,
        before.version,
        "Ada's Bakery",
    )
    withdrawn = await gql(acme, ada, WITHDRAW, id=merchant_id, reason="found another platform")
    assert withdrawn["data"]["merchantApplicationWithdraw"] == {
        "merchant": {"status": "WITHDRAWN"},
        "errors": [],
    }
    again = await gql(acme, ada, WITHDRAW, id=merchant_id, reason="twice")
    assert errors_of(again, "merchantApplicationWithdraw") == [(None, "INVALID_TRANSITION")]


async def test_withdrawing_needs_a_reason(acme: TenantRecord, ada: Principal) -> None:
    merchant_id = await draft_of(acme, ada, businessName="Ada's")
    payload = await gql(acme, ada, WITHDRAW, id=merchant_id, reason="  ")
    assert errors_of(payload, "merchantApplicationWithdraw") == [(["reason"], "REQUIRED")]


async def test_information_requested_then_resubmitted(acme: TenantRecord, ada: Principal) -> None:
    merchant_id = await complete_application(acme, ada)
    await gql(acme, ada, SUBMIT, id=merchant_id)
    async with tenant_scope(acme):
        await move((await Merchant.get(owner_user_id=ada.user_id)).id, S.NEEDS_INFORMATION)
    updated = await gql(acme, ada, UPDATE, id=merchant_id, input={"legalName": "Ada GmbH"})
    assert errors_of(updated, "merchantApplicationUpdate") == []
    payload = await gql(acme, ada, SUBMIT, id=merchant_id)
    assert payload["data"]["merchantApplicationSubmit"]["merchant"] == {
        "status": "SUBMITTED",
        "submissionCount": 2,
        "standardVersion": 1,
    }
    async with tenant_scope(acme):
        jobs = [row.decoded_args()["submission"] for row in await JobOutbox.filter(
            actor="merchants.screen").order_by("id")]  # fmt: skip
    assert jobs == [1, 2]


async def test_a_rejected_application_is_reopened_as_a_draft(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await complete_application(acme, ada)
    await gql(acme, ada, SUBMIT, id=merchant_id)
    async with tenant_scope(acme):
        await move((await Merchant.get(owner_user_id=ada.user_id)).id, S.REJECTED)
    payload = await gql(acme, ada, REOPEN, id=merchant_id)
    assert payload["data"]["merchantApplicationReopen"] == {
        "merchant": {"status": "DRAFT"},
        "errors": [],
    }
    resubmitted = await gql(acme, ada, SUBMIT, id=merchant_id)
    assert resubmitted["data"]["merchantApplicationSubmit"]["merchant"]["submissionCount"] == 2


async def test_a_rejected_application_is_not_reopened_beside_a_newer_one(
    acme: TenantRecord, ada: Principal
) -> None:
    merchant_id = await complete_application(acme, ada)
    await gql(acme, ada, SUBMIT, id=merchant_id)
    async with tenant_scope(acme):
        await move((await Merchant.get(owner_user_id=ada.user_id)).id, S.REJECTED)
    await draft_of(acme, ada, businessName="Ada's Second Go")
    payload = await gql(acme, ada, REOPEN, id=merchant_id)
    assert payload["data"]["merchantApplicationReopen"] == {
        "merchant": None,
        "errors": [{"field": None, "code": "ALREADY_APPLIED"}],
    }


async def test_a_draft_is_the_applicants_alone(
    acme: TenantRecord, ada: Principal, bob: Principal
) -> None:
    merchant_id = await draft_of(acme, ada, businessName="Ada's")
    reviewer = user_with("merchants:read", "merchants:review", user_id=bob.user_id)
    for principal in (bob, reviewer):
        for query, name, args in (
            (UPDATE, "merchantApplicationUpdate", {"input": {"businessName": "Mine"}}),
            (SUBMIT, "merchantApplicationSubmit", {}),
            (WITHDRAW, "merchantApplicationWithdraw", {"reason": "mine"}),
        ):
            payload = await gql(acme, principal, query, id=merchant_id, **args)
            assert errors_of(payload, name) == [(["id"], "NOT_FOUND")]
    seen = await gql(acme, reviewer, "query N($id: ID!) { node(id: $id) { id } }", id=merchant_id)
    assert seen["data"]["node"] is None
    async with tenant_scope(acme):
        stored = await Merchant.get(owner_user_id=ada.user_id)
    assert (stored.business_name, stored.status) == ("Ada's", S.DRAFT)


async def test_who_sees_a_submitted_application_still_cannot_act_for_its_owner(
    acme: TenantRecord, ada: Principal, bob: Principal
) -> None:
    merchant_id = await complete_application(acme, ada)
    await gql(acme, ada, SUBMIT, id=merchant_id)
    reader = user_with("merchants:read", user_id=bob.user_id)
    payload = await gql(acme, reader, WITHDRAW, id=merchant_id, reason="not mine")
    assert errors_of(payload, "merchantApplicationWithdraw") == [(["id"], "NOT_OWNER")]
    unknown = await gql(acme, ada, SUBMIT, id=to_global_id("Merchant", 999))
    assert errors_of(unknown, "merchantApplicationSubmit") == [(["id"], "NOT_FOUND")]


async def test_categories_of_the_standards_are_enforced_while_editing(
    acme: TenantRecord, ada: Principal
) -> None:
    async with tenant_scope(acme):
        await OnboardingStandard.filter(version=1).update(categories=["food", "crafts"])
    refused = await create(acme, ada, businessName="Ada's", category="weapons")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        (["input", "category"], "CATEGORY_NOT_ACCEPTED")
    ]
    accepted = await create(acme, ada, businessName="Ada's", category="crafts")
    assert accepted["merchant"]["category"] == "crafts"


async def test_nothing_to_change(acme: TenantRecord, ada: Principal) -> None:
    merchant_id = await draft_of(acme, ada, businessName="Ada's")
    for given in ({}, {"businessName": "Ada's"}):
        payload = await gql(acme, ada, UPDATE, id=merchant_id, input=given)
        assert errors_of(payload, "merchantApplicationUpdate") == [(["input"], "NOTHING_TO_CHANGE")]
    async with tenant_scope(acme):
        assert (await Merchant.get(owner_user_id=ada.user_id)).version == 1


async def test_two_users_apply_independently(
    acme: TenantRecord, ada: Principal, bob: Principal
) -> None:
    await draft_of(acme, ada, businessName="Ada's")
    await draft_of(acme, bob, businessName="Bob's")
    async with tenant_scope(acme):
        owners = await Merchant.all().order_by("id").values_list("owner_user_id", flat=True)
        users = await User.all().order_by("id").values_list("id", flat=True)
    assert owners == users


CREATE_ONCE = """mutation C($input: MerchantApplicationInput!, $key: String) {
  merchantApplicationCreate(input: $input, idempotencyKey: $key) {
    merchant { id businessName } errors { field code }
  }
}"""


async def test_an_idempotency_key_replays_the_first_draft(
    acme: TenantRecord, ada: Principal
) -> None:
    given = {"businessName": "Ada's", "bankDetails": COMPLETE["bankDetails"]}
    first = await gql(acme, ada, CREATE_ONCE, input=given, key="apply-1")
    again = await gql(acme, ada, CREATE_ONCE, input=given, key="apply-1")
    other = await gql(acme, ada, CREATE_ONCE, input={"businessName": "Bob's"}, key="apply-1")
    assert again["data"]["merchantApplicationCreate"] == first["data"]["merchantApplicationCreate"]
    assert first["data"]["merchantApplicationCreate"]["merchant"]["businessName"] == "Ada's"
    assert errors_of(other, "merchantApplicationCreate") == [
        (["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")
    ]
    async with tenant_scope(acme):
        assert await Merchant.all().count() == 1
        assert await MerchantEvent.filter(action="application_create").count() == 1
