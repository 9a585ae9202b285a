"""Relay connections over SettingsChange rows of one tenant: keyset pages both ways,
newest first, the page cap and cursor checks."""

from __future__ import annotations

import base64

import pytest

from schema.core.errors import PublicError
from schema.core.pagination import (
    Connection,
    PageRequest,
    decode_cursor,
    encode_cursor,
    paginate,
)
from schema.settings.models import SettingsChange
from schema.settings.service import SettingsChanges, update_settings
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

ROWS = 7


@pytest.fixture
async def change_ids(acme: TenantRecord) -> list[int]:
    """Seven changes of the name (alternating values), their ids in insertion order."""
    async with tenant_scope(acme):
        for n in range(ROWS):
            await update_settings(SettingsChanges(name=("Even", "Odd")[n % 2]), actor="test")
        ids = await SettingsChange.all().order_by("id").values_list("id", flat=True)
    assert len(ids) == ROWS
    return list(ids)


async def page(
    tenant: TenantRecord, *, newest_first: bool = False, **request: object
) -> Connection[int]:
    async with tenant_scope(tenant):
        return await paginate(
            SettingsChange.all(),
            PageRequest(**request),  # type: ignore[arg-type]
            lambda row: row.id,
            newest_first=newest_first,
        )


def nodes(connection: Connection[int]) -> list[int]:
    return [edge.node for edge in connection.edges]


def flags(connection: Connection[int]) -> tuple[bool, bool]:
    return connection.page_info.has_previous_page, connection.page_info.has_next_page


async def test_forward_pages_with_first_and_after(
    acme: TenantRecord, change_ids: list[int]
) -> None:
    one = await page(acme, first=3)
    assert (nodes(one), flags(one)) == (change_ids[0:3], (False, True))
    two = await page(acme, first=3, after=one.page_info.end_cursor)
    assert (nodes(two), flags(two)) == (change_ids[3:6], (False, True))
    three = await page(acme, first=3, after=two.page_info.end_cursor)
    assert (nodes(three), flags(three)) == (change_ids[6:7], (False, False))


async def test_backward_pages_with_last_and_before(
    acme: TenantRecord, change_ids: list[int]
) -> None:
    one = await page(acme, last=3)
    assert (nodes(one), flags(one)) == (change_ids[4:7], (True, False))
    two = await page(acme, last=3, before=one.page_info.start_cursor)
    assert (nodes(two), flags(two)) == (change_ids[1:4], (True, False))
    three = await page(acme, last=3, before=two.page_info.start_cursor)
    assert (nodes(three), flags(three)) == (change_ids[0:1], (False, False))


async def test_newest_first_pages(acme: TenantRecord, change_ids: list[int]) -> None:
    newest = change_ids[::-1]
    one = await page(acme, first=4, newest_first=True)
    assert (nodes(one), flags(one)) == (newest[0:4], (False, True))
    two = await page(acme, first=4, after=one.page_info.end_cursor, newest_first=True)
    assert (nodes(two), flags(two)) == (newest[4:7], (False, False))
    back = await page(acme, last=2, before=two.page_info.start_cursor, newest_first=True)
    assert (nodes(back), flags(back)) == (newest[2:4], (True, False))
    oldest = await page(acme, last=2, newest_first=True)
    assert nodes(oldest) == newest[5:7]


async def test_cursors_are_those_of_the_edges(acme: TenantRecord, change_ids: list[int]) -> None:
    connection = await page(acme, first=2)
    assert [edge.cursor for edge in connection.edges] == [encode_cursor(i) for i in change_ids[:2]]
    assert connection.page_info.start_cursor == connection.edges[0].cursor
    assert connection.page_info.end_cursor == connection.edges[-1].cursor
    assert [decode_cursor(edge.cursor) for edge in connection.edges] == change_ids[:2]


async def test_default_and_empty_pages(acme: TenantRecord, change_ids: list[int]) -> None:
    everything = await page(acme)  # default page size 20
    assert (nodes(everything), flags(everything)) == (change_ids, (False, False))
    empty = await page(acme, first=0)
    assert nodes(empty) == []
    assert (empty.page_info.start_cursor, empty.page_info.end_cursor) == (None, None)
    past_the_end = await page(acme, first=5, after=encode_cursor(change_ids[-1]))
    assert (nodes(past_the_end), flags(past_the_end)) == ([], (False, False))


async def test_page_cap(acme: TenantRecord, change_ids: list[int]) -> None:
    assert nodes(await page(acme, first=100)) == change_ids
    for request in ({"first": 101}, {"last": 101}, {"first": -1}):
        with pytest.raises(PublicError) as caught:
            await page(acme, **request)
        assert caught.value.message == "page size must be between 0 and 100"
        assert caught.value.extensions == {"code": "BAD_REQUEST"}


async def test_first_and_last_together_are_refused(
    acme: TenantRecord, change_ids: list[int]
) -> None:
    with pytest.raises(PublicError) as caught:
        await page(acme, first=2, last=2)
    assert caught.value.message == "pass first or last, not both"
    assert caught.value.extensions == {"code": "BAD_REQUEST"}


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        base64.urlsafe_b64encode(b"other:3").decode(),
        base64.urlsafe_b64encode(b"cursor:three").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_invalid_cursor_is_bad_request(acme: TenantRecord, cursor: str) -> None:
    for request in ({"first": 2, "after": cursor}, {"last": 2, "before": cursor}):
        with pytest.raises(PublicError) as caught:
            await page(acme, **request)
        assert (caught.value.message, caught.value.extensions) == (
            "invalid cursor",
            {"code": "BAD_REQUEST"},
        )
