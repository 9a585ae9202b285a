"""The watch list: values normalized as the automated review compares them, and its
GraphQL face (``merchants:configure``)."""

from __future__ import annotations

from typing import Any

import pytest

from schema.audit.models import AuditRecord
from schema.merchants.models import WatchListEntry, WatchListKind
from schema.merchants.service.watchlist import (
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_registration,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.graphql import codes, gql
from tests.schema.principals import user_with

CONFIGURER = user_with("merchants:configure", user_id=7)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("ACME Trading GmbH", "acme trading"),
        ("Acme-Trading", "acme trading"),
        ("  acme   trading, Ltd. ", "acme trading"),
        ("Acme GmbH & Co. KG", "acme"),
        ("Ada’s Bakery", "adas bakery"),  # noqa: RUF001
        ("ＡＣＭＥ Ｔｒａｄｉｎｇ", "acme trading"),  # noqa: RUF001 (full-width: NFKC)
        ("Straße Bau", "strasse bau"),  # casefold
        ("A.B.C. Holdings Inc", "abc holdings"),
        ("Ltd", "ltd"),  # nothing but a legal form: kept
    ],
)
def test_names_are_folded(raw: str, normalized: str) -> None:
    assert normalize_name(raw) == normalized


def test_emails_phones_and_numbers_are_normalized() -> None:
    assert normalize_email(" Ada@Example.COM ") == "ada@example.com"
    assert normalize_email("@Example.com") == "@example.com"
    assert [normalize_email(v) for v in ("example.com", "ada@", "a b@c.d")] == [None] * 3
    assert normalize_phone("+49 30 123456") == "+4930123456"
    assert normalize_phone("030 123456") is None  # not international
    assert normalize_registration("hrb 123/45-a") == "HRB12345A"


ADD = """
mutation($input: MerchantWatchListEntryAddInput!) {
  merchantWatchListEntryAdd(input: $input) {
    entry { id kind value reason createdBy }
    errors { field code }
  }
}"""
REMOVE = """
mutation($id: ID!, $reason: String!) {
  merchantWatchListEntryRemove(id: $id, reason: $reason) { removedId errors { field code } }
}"""
LIST = """
query($kind: MerchantWatchListKind) {
  merchantWatchList(kind: $kind) { nodes { kind value } }
}"""


async def add(tenant: TenantRecord, kind: str, value: str, reason: str = "fraud") -> Any:
    payload = await gql(
        tenant, CONFIGURER, ADD, input={"kind": kind, "value": value, "reason": reason}
    )
    return payload["data"]["merchantWatchListEntryAdd"]


async def test_an_entry_is_stored_normalized_and_audited(acme: TenantRecord) -> None:
    added = await add(acme, "NAME", "ACME Trading GmbH", "  chargebacks in 2025 ")
    assert added["errors"] == []
    entry = added["entry"]
    assert (entry["kind"], entry["value"], entry["reason"], entry["createdBy"]) == (
        "NAME", "acme trading", "chargebacks in 2025", "user:7",
    )  # fmt: skip
    async with tenant_scope(acme):
        row = await WatchListEntry.get()
        record = await AuditRecord.get(operation="merchantWatchListEntryAdd")
    assert record.targets == f'["MerchantWatchListEntry:{row.id}"]'
    assert record.summary == (
        '{"kind":"name","reason":"chargebacks in 2025","value":"acme trading"}'
    )


async def test_the_same_value_spelt_otherwise_is_already_listed(acme: TenantRecord) -> None:
    await add(acme, "NAME", "ACME Trading GmbH")
    again = await add(acme, "NAME", "acme-trading ltd")
    assert (again["entry"], again["errors"]) == (
        None,
        [{"field": ["value"], "code": "ALREADY_LISTED"}],
    )
    other_kind = await add(acme, "REGISTRATION_NUMBER", "acme trading")
    assert other_kind["errors"] == []


async def test_every_problem_of_an_input_is_reported(acme: TenantRecord) -> None:
    bad_email = await add(acme, "EMAIL", "example.com", " ")
    assert bad_email["errors"] == [
        {"field": ["value"], "code": "INVALID"},
        {"field": ["reason"], "code": "REQUIRED"},
    ]
    assert (await add(acme, "PHONE", "030 1234"))["errors"] == [
        {"field": ["value"], "code": "INVALID"}
    ]
    assert (await add(acme, "NAME", "x", "r" * 1001))["errors"] == [
        {"field": ["reason"], "code": "TOO_LONG"}
    ]
    async with tenant_scope(acme):
        assert await WatchListEntry.all().count() == 0


async def test_listing_and_removing(acme: TenantRecord) -> None:
    await add(acme, "EMAIL", "@Fraud.example")
    phone = (await add(acme, "PHONE", "+49 30 123456"))["entry"]
    listed = await gql(acme, CONFIGURER, LIST)
    assert listed["data"]["merchantWatchList"]["nodes"] == [
        {"kind": "PHONE", "value": "+4930123456"},
        {"kind": "EMAIL", "value": "@fraud.example"},
    ]
    emails = await gql(acme, CONFIGURER, LIST, kind="EMAIL")
    assert emails["data"]["merchantWatchList"]["nodes"] == [
        {"kind": "EMAIL", "value": "@fraud.example"}
    ]
    removed = await gql(acme, CONFIGURER, REMOVE, id=phone["id"], reason="cleared")
    assert removed["data"]["merchantWatchListEntryRemove"] == {
        "removedId": phone["id"],
        "errors": [],
    }
    again = await gql(acme, CONFIGURER, REMOVE, id=phone["id"], reason="cleared")
    assert again["data"]["merchantWatchListEntryRemove"]["errors"] == [
        {"field": ["id"], "code": "NOT_FOUND"}
    ]
    async with tenant_scope(acme):
        assert await WatchListEntry.filter(kind=WatchListKind.PHONE).count() == 0
        record = await AuditRecord.get(operation="merchantWatchListEntryRemove", outcome="success")
    assert record.summary == '{"kind":"phone","reason":"cleared","value":"+4930123456"}'


async def test_reviewers_cannot_read_the_list(acme: TenantRecord) -> None:
    payload = await gql(acme, user_with("merchants:review"), LIST)
    assert codes(payload) == ["FORBIDDEN"]
