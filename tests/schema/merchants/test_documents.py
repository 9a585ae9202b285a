"""Supporting documents through GraphQL uploads: checked by content against the standards,
stored per tenant, replaced and removed with history, downloadable only by whoever sees
the merchant; refused uploads leave nothing behind."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import UploadFile

from schema.core.nodes import to_global_id
from schema.core.principal import Principal
from schema.files.models import StoredFile
from schema.identity.models import User
from schema.merchants.models import Merchant, MerchantDocument, MerchantEvent, OnboardingStandard
from schema.merchants.status import MerchantStatus
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.files.samples import EXE, PDF, PNG, upload
from tests.schema.graphql import gql
from tests.schema.merchants.applying import add_documents
from tests.schema.merchants.conftest import make_user
from tests.schema.principals import user_with
from tests.tenants.helpers import files_under

S = MerchantStatus
UPLOAD = """mutation U($m: ID!, $kind: MerchantDocumentKind!, $file: Upload!, $expires: Date) {
  merchantDocumentUpload(merchantId: $m, kind: $kind, file: $file, expiresOn: $expires) {
    document { id kind filename mediaType size expiresOn downloadUrl }
    merchant { documents { kind filename } }
    errors { field code }
  }
}"""
REMOVE = """mutation R($id: ID!) {
  merchantDocumentRemove(id: $id) { merchant { documents { kind } } errors { field code } }
}"""
DOCUMENTS = """query D($id: ID!) {
  node(id: $id) { ... on Merchant { documents { kind filename downloadUrl } } }
}"""
IN_A_YEAR = (date.today() + timedelta(days=365)).isoformat()


@pytest.fixture
def root(tenancy: Tenancy) -> Path:
    return tenancy.config.files_root


@pytest.fixture
async def applicant(acme: TenantRecord) -> tuple[Principal, str]:
    """A signed-in user and their draft's ID."""
    async with tenant_scope(acme):
        user = await make_user("ada@example.com")
        merchant = await Merchant.create(owner_user_id=user.id, business_name="Ada's")
    return user_with(user_id=user.id), to_global_id("Merchant", merchant.id)


async def send(
    tenant: TenantRecord,
    principal: Principal,
    merchant_id: str,
    file: UploadFile,
    kind: str = "BUSINESS_LICENCE",
    expires: str | None = None,
) -> dict[str, Any]:
    payload = await gql(
        tenant, principal, UPLOAD, m=merchant_id, kind=kind, file=file, expires=expires
    )
    result: dict[str, Any] = payload["data"]["merchantDocumentUpload"]
    return result


def errors(result: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in result["errors"]]


async def test_a_pdf_is_stored_and_listed(
    acme: TenantRecord, applicant: tuple[Principal, str], root: Path
) -> None:
    principal, merchant_id = applicant
    result = await send(acme, principal, merchant_id, upload(PDF, "licence.pdf", "application/pdf"))
    document = result["document"]
    assert errors(result) == []
    assert {k: v for k, v in document.items() if k not in ("id", "downloadUrl")} == {
        "kind": "BUSINESS_LICENCE",
        "filename": "licence.pdf",
        "mediaType": "application/pdf",
        "size": len(PDF),
        "expiresOn": None,
    }
    assert document["downloadUrl"].startswith("http://localhost:8000/t/acme/files/")
    assert result["merchant"]["documents"] == [
        {"kind": "BUSINESS_LICENCE", "filename": "licence.pdf"}
    ]
    async with tenant_scope(acme):
        stored = await StoredFile.get()
        event = await MerchantEvent.get(action="document_add")
    assert (stored.purpose, stored.sha256, stored.public) == (
        "merchant_document",
        hashlib.sha256(PDF).hexdigest(),
        False,
    )
    assert files_under(root) == [Path(acme.id, stored.key[:2], stored.key)]
    assert event.details["kind"] == "business_licence"


async def test_a_new_upload_replaces_the_current_document_of_its_kind(
    acme: TenantRecord, applicant: tuple[Principal, str]
) -> None:
    principal, merchant_id = applicant
    await send(acme, principal, merchant_id, upload(PDF, "old.pdf"))
    result = await send(acme, principal, merchant_id, upload(PNG, "new.png", "image/png"))
    assert result["merchant"]["documents"] == [{"kind": "BUSINESS_LICENCE", "filename": "new.png"}]
    async with tenant_scope(acme):
        rows = await MerchantDocument.all().order_by("id")
        details = (
            await MerchantEvent.filter(action="document_add")
            .order_by("id")
            .values_list("details", flat=True)
        )
    assert [(r.filename, r.replaced_at is not None) for r in rows] == [
        ("old.pdf", True),
        ("new.png", False),
    ]
    assert [d["replaced"] for d in details] == [False, True]


@pytest.mark.parametrize(
    ("data", "name", "claimed", "code"),
    [
        (EXE, "licence.pdf", "application/pdf", "FILE_TYPE_NOT_ACCEPTED"),  # disguised
        (PDF + b"\0" * 2048, "licence.pdf", "application/pdf", "FILE_TOO_LARGE"),
        (b"", "licence.pdf", "application/pdf", "FILE_EMPTY"),
        (PDF, "../../etc/licence.pdf", "application/pdf", "FILE_NAME_INVALID"),
        (PDF, "..\\licence.pdf", "application/pdf", "FILE_NAME_INVALID"),
    ],
)
async def test_refused_uploads_leave_nothing_behind(
    acme: TenantRecord,
    applicant: tuple[Principal, str],
    root: Path,
    data: bytes,
    name: str,
    claimed: str,
    code: str,
) -> None:
    principal, merchant_id = applicant
    async with tenant_scope(acme):
        await OnboardingStandard.filter(version=1).update(max_file_bytes=1024)
    result = await send(acme, principal, merchant_id, upload(data, name, claimed))
    assert errors(result) == [(["file"], code)]
    async with tenant_scope(acme):
        assert await StoredFile.all().count() == 0
        assert await MerchantDocument.all().count() == 0
        assert (await Merchant.get()).version == 1
    assert [p for p in files_under(root) if p.parts[0] == acme.id] == []


async def test_the_standards_decide_kinds_and_expiry(
    acme: TenantRecord, applicant: tuple[Principal, str], root: Path
) -> None:
    principal, merchant_id = applicant
    cases = [
        ("OTHER", None, [(["kind"], "DOCUMENT_KIND_NOT_ACCEPTED")]),
        ("REPRESENTATIVE_IDENTITY", None, [(["expiresOn"], "REQUIRED")]),
        ("REPRESENTATIVE_IDENTITY", (date.today() - timedelta(days=1)).isoformat(),
         [(["expiresOn"], "DOCUMENT_EXPIRED")]),
    ]  # fmt: skip
    for kind, expires, expected in cases:
        result = await send(acme, principal, merchant_id, upload(PDF, "id.pdf"), kind, expires)
        assert errors(result) == expected, kind
    ok = await send(
        acme, principal, merchant_id, upload(PDF, "id.pdf"), "REPRESENTATIVE_IDENTITY", IN_A_YEAR
    )
    assert (errors(ok), ok["document"]["expiresOn"]) == ([], IN_A_YEAR)
    async with tenant_scope(acme):
        assert await StoredFile.all().count() == 1


async def test_only_the_applicant_changes_an_applications_documents(
    acme: TenantRecord, applicant: tuple[Principal, str]
) -> None:
    principal, merchant_id = applicant
    stranger = user_with("merchants:read", "merchants:manage", user_id=99)
    assert errors(await send(acme, stranger, merchant_id, upload(PDF, "x.pdf"))) == [
        (["merchantId"], "NOT_FOUND")
    ]
    async with tenant_scope(acme):
        await Merchant.all().update(status=S.SUBMITTED, submitted_at=datetime.now(UTC))
    assert errors(await send(acme, stranger, merchant_id, upload(PDF, "x.pdf"))) == [
        (["merchantId"], "NOT_OWNER")
    ]
    assert errors(await send(acme, principal, merchant_id, upload(PDF, "x.pdf"))) == [
        (None, "INVALID_TRANSITION")
    ]
    async with tenant_scope(acme):
        assert await StoredFile.all().count() == 0


async def test_an_admitted_merchant_renews_and_removes_documents(
    acme: TenantRecord, applicant: tuple[Principal, str]
) -> None:
    _, merchant_id = applicant
    async with tenant_scope(acme):
        merchant = await Merchant.get()
        await Merchant.all().update(status=S.ACTIVE, submitted_at=datetime.now(UTC))
    manager = user_with("merchants:manage", user_id=50, merchant_id=merchant.id)
    renewed = await send(acme, manager, merchant_id, upload(PDF, "licence-2027.pdf"))
    assert errors(renewed) == []
    removed = await gql(acme, manager, REMOVE, id=renewed["document"]["id"])
    assert removed["data"]["merchantDocumentRemove"] == {
        "merchant": {"documents": []},
        "errors": [],
    }
    again = await gql(acme, manager, REMOVE, id=renewed["document"]["id"])
    assert again["data"]["merchantDocumentRemove"]["errors"] == [
        {"field": ["id"], "code": "NOT_FOUND"}
    ]
    async with tenant_scope(acme):
        stored = await StoredFile.get()
        actions = await MerchantEvent.all().order_by("id").values_list("action", "actor")
    assert stored.deleted_at is not None  # never served again
    assert actions == [("document_add", "user:50"), ("document_remove", "user:50")]


async def test_links_only_for_whoever_sees_the_merchant(
    acme: TenantRecord, applicant: tuple[Principal, str]
) -> None:
    principal, merchant_id = applicant
    await send(acme, principal, merchant_id, upload(PDF, "licence.pdf"))
    async with tenant_scope(acme):
        merchant = await Merchant.get()
        await Merchant.all().update(status=S.ACTIVE, submitted_at=datetime.now(UTC))
        staff = await make_user("staff@example.com")
        await User.filter(id=staff.id).update(merchant_id=merchant.id)
    own = await gql(acme, principal, DOCUMENTS, id=merchant_id)
    assert own["data"]["node"]["documents"][0]["downloadUrl"] is not None
    # Staff without merchants:read find their merchant among theirs, but not its files.
    mine = "{ myMerchants { nodes { documents { kind downloadUrl } } } }"
    listed = await gql(acme, user_with(user_id=staff.id), mine)
    assert listed["data"]["myMerchants"]["nodes"] == [
        {"documents": [{"kind": "BUSINESS_LICENCE", "downloadUrl": None}]}
    ]
    reader = user_with("merchants:read", user_id=98)
    read = await gql(acme, reader, DOCUMENTS, id=merchant_id)
    assert read["data"]["node"]["documents"][0]["downloadUrl"] is not None


async def test_documents_of_a_whole_list(acme: TenantRecord, root: Path) -> None:
    async with tenant_scope(acme):
        for n in range(3):
            owner = await make_user(f"owner{n}@example.com")
            merchant = await Merchant.create(owner_user_id=owner.id, business_name=f"M{n}")
            await add_documents(merchant)
        await Merchant.all().update(status=S.SUBMITTED, submitted_at=datetime.now(UTC))
    query = "{ merchants(first: 10) { nodes { businessName documents { kind } } } }"
    payload = await gql(acme, user_with("merchants:read", user_id=99), query)
    kinds = ["BUSINESS_LICENCE", "REPRESENTATIVE_IDENTITY", "BANK_ACCOUNT_PROOF"]
    assert payload["data"]["merchants"]["nodes"] == [
        {"businessName": f"M{n}", "documents": [{"kind": k} for k in kinds]} for n in (2, 1, 0)
    ]


LOGO = """mutation L($m: ID!, $file: Upload!) {
  merchantLogoUpload(merchantId: $m, file: $file) { merchant { logoUrl } errors { field code } }
}"""


async def test_a_logo_is_a_public_image_replacing_the_earlier(
    acme: TenantRecord, applicant: tuple[Principal, str]
) -> None:
    principal, merchant_id = applicant
    pdf = await gql(acme, principal, LOGO, m=merchant_id, file=upload(PDF, "logo.pdf"))
    assert pdf["data"]["merchantLogoUpload"]["errors"] == [
        {"field": ["file"], "code": "FILE_TYPE_NOT_ACCEPTED"}
    ]
    first = await gql(acme, principal, LOGO, m=merchant_id, file=upload(PNG, "logo.png"))
    second = await gql(acme, principal, LOGO, m=merchant_id, file=upload(PNG, "logo2.png"))
    async with tenant_scope(acme):
        old, new = await StoredFile.all().order_by("id")
        merchant = await Merchant.get()
    url = second["data"]["merchantLogoUpload"]["merchant"]["logoUrl"]
    assert first["data"]["merchantLogoUpload"]["errors"] == []
    assert url == f"http://localhost:8000/t/acme/files/{new.id}?" + url.split("?")[1]
    assert "expires=" not in url  # public: the link can be cached and embedded
    assert (merchant.logo_file_id, new.public, new.purpose) == (new.id, True, "merchant_logo")
    assert old.deleted_at is not None
    async with tenant_scope(acme):
        await Merchant.all().update(status=S.SUBMITTED, submitted_at=datetime.now(UTC))
    frozen = await gql(acme, principal, LOGO, m=merchant_id, file=upload(PNG, "logo3.png"))
    assert frozen["data"]["merchantLogoUpload"]["errors"] == [
        {"field": None, "code": "INVALID_TRANSITION"}
    ]
