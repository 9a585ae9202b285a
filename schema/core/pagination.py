"""Relay connections with a hard page cap, paged by keyset on the primary key, or on a
non-unique column followed by the primary key (``SortKey``: the review queue, oldest
submission first).

Cursors are opaque (base64 of ``cursor:<id>``, or ``cursor:<value>|<id>`` with a sort
key); clients must not build them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from schema.core.errors import ErrorCode, PublicError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

NodeType = TypeVar("NodeType")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeType]):
    cursor: str
    node: NodeType


@strawberry.type
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of this page, without the edges.")
    def nodes(self) -> list[NodeType]:
        return [edge.node for edge in self.edges]


def encode_cursor(key: int | str) -> str:
    return base64.urlsafe_b64encode(f"cursor:{key}".encode()).decode()


def decode_text_cursor(cursor: str) -> str:
    """The key of a cursor over a text column (``paginate(text_key=...)``)."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise PublicError("invalid cursor", ErrorCode.BAD_REQUEST) from None
    prefix, _, key = raw.partition(":")
    if prefix != "cursor":
        raise PublicError("invalid cursor", ErrorCode.BAD_REQUEST)
    return key


def decode_cursor(cursor: str) -> int:
    try:
        return int(decode_text_cursor(cursor))
    except ValueError:
        raise PublicError("invalid cursor", ErrorCode.BAD_REQUEST) from None


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def size(self) -> int:
        if self.first is not None and self.last is not None:
            raise PublicError("pass first or last, not both", ErrorCode.BAD_REQUEST)
        size = self.first if self.first is not None else self.last
        if size is None:
            return DEFAULT_PAGE_SIZE
        if not 0 <= size <= MAX_PAGE_SIZE:
            raise PublicError(
                f"page size must be between 0 and {MAX_PAGE_SIZE}", ErrorCode.BAD_REQUEST
            )
        return size


@dataclass(frozen=True, slots=True)
class _UniqueKey:
    """Paging on one unique column: the primary key, or a unique text column."""

    column: str
    text: bool

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def cursor(self, row: Any) -> str:
        return encode_cursor(getattr(row, self.column))

    def beyond(self, cursor: str, *, greater: bool) -> Q:
        key = decode_text_cursor(cursor) if self.text else decode_cursor(cursor)
        return Q(**{f"{self.column}__{'gt' if greater else 'lt'}": key})


@dataclass(frozen=True, slots=True)
class SortKey:
    """A column to page by before the primary key, which breaks its ties. Its values
    must never be null (filter those rows out); ``parse`` turns a cursor's text back
    into the column's type."""

    column: str
    parse: Callable[[str], Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, "id")

    def cursor(self, row: Any) -> str:
        return encode_cursor(f"{getattr(row, self.column)}|{row.id}")

    def decode(self, cursor: str) -> tuple[Any, int]:
        value, _, key = decode_text_cursor(cursor).rpartition("|")
        try:
            return self.parse(value), int(key)
        except ValueError:
            raise PublicError("invalid cursor", ErrorCode.BAD_REQUEST) from None

    def beyond(self, cursor: str, *, greater: bool) -> Q:
        """Rows after (``greater``) or before the cursor's (value, id). Written as
        ``value >= v AND (value > v OR id > k)`` so that an index on (column, id)
        starts its range at ``v`` instead of filtering from the first row."""
        value, key = self.decode(cursor)
        op = "gt" if greater else "lt"
        column = self.column
        return Q(**{f"{column}__{op}e": value}) & (
            Q(**{f"{column}__{op}": value}) | Q(**{f"id__{op}": key})
        )


def by_time(column: str) -> SortKey:
    """Page by a datetime column, then id."""
    return SortKey(column, datetime.fromisoformat)


async def paginate(
    query: QuerySet[Any],
    page: PageRequest,
    to_node: Callable[[Any], NodeType],
    *,
    newest_first: bool = False,
    text_key: str | None = None,
    sort_key: SortKey | None = None,
) -> Connection[NodeType]:
    """Page ``query`` by primary key, or by ``text_key``, a unique text column (the
    registry's tenants by ``slug``: their ids are not integers), or by ``sort_key``
    then primary key; ``newest_first`` lists the highest keys first."""
    size = page.size()
    backwards = page.last is not None
    key = sort_key or _UniqueKey(text_key or "id", text=text_key is not None)
    if page.after is not None:
        query = query.filter(key.beyond(page.after, greater=not newest_first))
    if page.before is not None:
        query = query.filter(key.beyond(page.before, greater=newest_first))
    ascending = newest_first == backwards
    order = (column if ascending else f"-{column}" for column in key.columns)
    rows: Sequence[Any] = await query.order_by(*order).limit(size + 1)
    has_more = len(rows) > size
    rows = list(rows[:size])
    if backwards:
        rows.reverse()
    edges = [Edge(cursor=key.cursor(row), node=to_node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_more and not backwards,
            has_previous_page=has_more and backwards,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
