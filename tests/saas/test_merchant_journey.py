"""A merchant's whole journey through GraphQL over HTTP, with real signed tokens and the
app's own worker pools doing the automated review: apply, upload, submit, screened by
the worker, claimed and decided by a reviewer; then the agreement and going live. Also
the two other ends of a review: more information asked for (and given), and rejection
(then reopening)."""

from __future__ import annotations

import email
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any, NamedTuple

import pytest

from schema.core.nodes import from_global_id, to_global_id
from schema.identity.models import UserType
from tenants.records import TenantRecord
from tests.saas.harness import AppStarter, RunningApp
from tests.saas.test_auth import add_user, bearer, token_for
from tests.schema.files.samples import PDF
from tests.schema.merchants.applying import COMPLETE
from tests.workers.harness import wait_for

APPLICANT = "ada@example.com"
ACCOUNT_READY = "Your Acme Ltd account is ready: set your password"
POOLS = "default:1,critical:1,maintenance:1,webhooks:1"
DOCUMENTS = {
    "BUSINESS_LICENCE": None,
    "REPRESENTATIVE_IDENTITY": (date.today() + timedelta(days=365)).isoformat(),
    "BANK_ACCOUNT_PROOF": None,
}
CREATE = """mutation ($input: MerchantApplicationInput!) {
  merchantApplicationCreate(input: $input) { merchant { id status } errors { code } }
}"""
UPDATE = """mutation ($id: ID!, $input: MerchantApplicationInput!) {
  merchantApplicationUpdate(id: $id, input: $input) { merchant { status } errors { field code } }
}"""
UPLOAD = """mutation ($id: ID!, $kind: MerchantDocumentKind!, $file: Upload!, $expires: Date) {
  merchantDocumentUpload(merchantId: $id, kind: $kind, file: $file, expiresOn: $expires) {
    document { kind mediaType } errors { field code }
  }
}"""
SUBMIT = """mutation ($id: ID!) {
  merchantApplicationSubmit(id: $id) { merchant { status } errors { field code } }
}"""
STATUS = """query ($id: ID!) {
  node(id: $id) {
    ... on Merchant { status riskLevel capabilities requestedItems { item message } }
  }
}"""
QUEUE = "{ merchantReviewQueue(first: 50) { nodes { id businessName riskLevel } } }"
CLAIM = """mutation ($id: ID!) {
  merchantApplicationClaim(id: $id) { merchant { claimedByUserId } errors { code } }
}"""
APPROVE = """mutation ($id: ID!) {
  merchantApprove(id: $id, note: "documents in order") { merchant { status } errors { code } }
}"""
REQUEST = """mutation ($id: ID!, $items: [RequestedItemInput!]!) {
  merchantRequestInformation(id: $id, items: $items) { merchant { status } errors { code } }
}"""
REJECT = """mutation ($id: ID!, $reasons: [String!]!) {
  merchantReject(id: $id, reasons: $reasons) { merchant { status } errors { code } }
}"""
PUBLISH = """mutation ($input: MerchantAgreementPublishInput!) {
  merchantAgreementPublish(input: $input) { errors { code } }
}"""
ACCEPT = """mutation ($id: ID!, $version: String!) {
  merchantAgreementAccept(merchantId: $id, version: $version) {
    merchant { status capabilities } errors { code }
  }
}"""
PUBLIC = "{ publicMerchants(first: 10) { nodes { id name category } } }"
REOPEN = """mutation ($id: ID!) {
  merchantApplicationReopen(id: $id) { merchant { status } errors { code } }
}"""


class Person:
    """Someone of the tenant with a real signed access token."""

    def __init__(self, running: RunningApp, token: str | None) -> None:
        self.running = running
        self.headers = bearer(token) if token else {}

    async def call(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.running.graphql(query, variables=variables, headers=self.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def upload(self, merchant_id: str, kind: str, expires: str | None) -> dict[str, Any]:
        """A GraphQL multipart request, as a browser or mobile app sends it."""
        variables = {"id": merchant_id, "kind": kind, "file": None, "expires": expires}
        response = await self.running.client.post(
            "/t/acme/graphql",
            headers=self.headers,
            data={
                "operations": json.dumps({"query": UPLOAD, "variables": variables}),
                "map": json.dumps({"0": ["variables.file"]}),
            },
            files={"0": (f"{kind.lower()}.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]["merchantDocumentUpload"]

    async def status(self, merchant_id: str) -> dict[str, Any]:
        return (await self.call(STATUS, id=merchant_id))["node"]


def profile_id(merchant_id: str) -> str:
    """The public profile's global ID of the merchant ``merchant_id`` names."""
    _, key = from_global_id(merchant_id)
    return to_global_id("MerchantProfile", key)


async def person(
    running: RunningApp,
    tenant: TenantRecord,
    email: str,
    role: str,
    user_type: UserType = UserType.TENANT_STAFF,
) -> Person:
    user_id = await add_user(tenant, email, role, user_type)
    return Person(running, await token_for(tenant, user_id=user_id, scope="*"))


class Cast(NamedTuple):
    running: RunningApp
    tenant: TenantRecord
    applicant: Person
    reviewer: Person


@pytest.fixture
async def cast(dialect: str, start_app: AppStarter) -> AsyncIterator[Cast]:
    """The app with its worker pools, tenant Acme, an applicant and a reviewer."""
    async with start_app(
        dialect, SAAS_WORKER_POOLS=POOLS, SAAS_SCHEDULER="false", SAAS_RELAY_INTERVAL="0.05"
    ) as running:
        acme = await running.add_tenant("acme", "Acme Ltd")
        applicant = await person(running, acme, APPLICANT, "user", UserType.USER)
        reviewer = await person(running, acme, "rita@acme.example", "operations_manager")
        yield Cast(running, acme, applicant, reviewer)


async def apply(applicant: Person, business_name: str, registration_number: str) -> str:
    """A complete application with its documents, submitted; its Merchant ID."""
    created = await applicant.call(CREATE, input={"businessName": business_name})
    merchant_id = created["merchantApplicationCreate"]["merchant"]["id"]
    details = {**COMPLETE, "businessName": business_name, "registrationNumber": registration_number}
    updated = await applicant.call(UPDATE, id=merchant_id, input=details)
    assert updated["merchantApplicationUpdate"] == {"merchant": {"status": "DRAFT"}, "errors": []}
    for kind, expires in DOCUMENTS.items():
        uploaded = await applicant.upload(merchant_id, kind, expires)
        assert uploaded == {
            "document": {"kind": kind, "mediaType": "application/pdf"},
            "errors": [],
        }
    submitted = await applicant.call(SUBMIT, id=merchant_id)
    assert submitted["merchantApplicationSubmit"] == {
        "merchant": {"status": "SUBMITTED"},
        "errors": [],
    }
    return merchant_id


async def screened(applicant: Person, merchant_id: str) -> dict[str, Any]:
    """The application once the worker's automated review has moved it on."""

    async def moved_on() -> bool:
        return (await applicant.status(merchant_id))["status"] != "SUBMITTED"

    await wait_for(moved_on, what="the automated review by the worker")
    return await applicant.status(merchant_id)


async def claimed(reviewer: Person, merchant_id: str) -> None:
    queue = await reviewer.call(QUEUE)
    assert merchant_id in [n["id"] for n in queue["merchantReviewQueue"]["nodes"]]
    claim = await reviewer.call(CLAIM, id=merchant_id)
    assert claim["merchantApplicationClaim"]["errors"] == []


def subjects_to(running: RunningApp, address: str) -> list[str]:
    """The subjects of the mails the worker delivered to ``address`` (the file sender)."""
    found = []
    for path in sorted(running.settings.mail_directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            found.append(str(message["Subject"]))
    return found


async def delivered(running: RunningApp, subject: str) -> None:
    """Wait until the worker has delivered ``subject`` to the applicant, and only once."""

    async def sent() -> bool:
        return subject in subjects_to(running, APPLICANT)

    await wait_for(sent, what=f"the mail {subject!r}")
    assert subjects_to(running, APPLICANT) == [ACCOUNT_READY, subject]


async def test_apply_upload_submit_screen_approve(cast: Cast) -> None:
    running, acme, applicant, reviewer = cast
    director = await person(running, acme, "dora@acme.example", "operations_director")
    agreement = {"version": "2026-11", "title": "Cooperation", "body": "We agree."}
    assert (await director.call(PUBLISH, input=agreement)) == {
        "merchantAgreementPublish": {"errors": []}
    }

    merchant_id = await apply(applicant, "Ada's Bakery", "HRB-1001")
    review = await screened(applicant, merchant_id)
    # The risk level is the tenant's assessment: the reviewer sees it, the applicant not.
    assert (review["status"], review["riskLevel"]) == ("IN_REVIEW", None)
    queue = await reviewer.call(QUEUE)
    assert queue["merchantReviewQueue"]["nodes"] == [
        {"id": merchant_id, "businessName": "Ada's Bakery", "riskLevel": "LOW"}
    ]

    await claimed(reviewer, merchant_id)
    approved = await reviewer.call(APPROVE, id=merchant_id)
    # The default standards charge no onboarding fee: straight on to the agreement.
    assert approved["merchantApprove"] == {
        "merchant": {"status": "AGREEMENT_PENDING"},
        "errors": [],
    }
    assert (await applicant.status(merchant_id))["capabilities"] == [
        "ACCEPT_AGREEMENT",
        "USE_API",
    ]
    await delivered(running, "Acme Ltd: your merchant application was approved")

    accepted = await applicant.call(ACCEPT, id=merchant_id, version="2026-11")
    assert accepted["merchantAgreementAccept"] == {
        "merchant": {
            "status": "ACTIVE",
            "capabilities": [
                "ACCEPT_ORDERS", "PUBLIC_PROFILE", "PUBLISH_LISTINGS", "RECEIVE_PAYOUTS",
                "USE_API",
            ],
        },
        "errors": [],
    }  # fmt: skip
    public = await Person(running, None).call(PUBLIC)  # no token: the public
    assert public["publicMerchants"]["nodes"] == [
        {"id": profile_id(merchant_id), "name": "Ada's Bakery", "category": "food"}
    ]


async def test_information_asked_for_then_given(cast: Cast) -> None:
    running, _, applicant, reviewer = cast
    merchant_id = await apply(applicant, "Ada's Bakery", "HRB-1002")
    await screened(applicant, merchant_id)
    await claimed(reviewer, merchant_id)

    item = {"item": "website", "message": "Add the shop's website."}
    asked = await reviewer.call(REQUEST, id=merchant_id, items=[item])
    assert asked["merchantRequestInformation"]["merchant"] == {"status": "NEEDS_INFORMATION"}
    waiting = await applicant.status(merchant_id)
    assert (waiting["requestedItems"], waiting["capabilities"]) == (
        [item],
        ["EDIT_APPLICATION"],
    )

    website = {"website": "https://bakery.example/shop"}
    await applicant.call(UPDATE, id=merchant_id, input=website)
    resubmitted = await applicant.call(SUBMIT, id=merchant_id)
    assert resubmitted["merchantApplicationSubmit"]["merchant"] == {"status": "SUBMITTED"}
    again = await screened(applicant, merchant_id)
    assert (again["status"], again["requestedItems"]) == ("IN_REVIEW", [])
    await delivered(running, "Acme Ltd: your merchant application needs more information")


async def test_rejected_then_reopened(cast: Cast) -> None:
    running, _, applicant, reviewer = cast
    merchant_id = await apply(applicant, "Ada's Bakery", "HRB-1003")
    await screened(applicant, merchant_id)
    await claimed(reviewer, merchant_id)

    rejected = await reviewer.call(REJECT, id=merchant_id, reasons=["Outside our market."])
    assert rejected["merchantReject"]["merchant"] == {"status": "REJECTED"}
    assert (await applicant.status(merchant_id))["capabilities"] == []
    reopened = await applicant.call(REOPEN, id=merchant_id)
    assert reopened["merchantApplicationReopen"] == {
        "merchant": {"status": "DRAFT"},
        "errors": [],
    }
    await delivered(running, "Acme Ltd: your merchant application was not accepted")
