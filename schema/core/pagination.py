"""Relay connections with a hard page cap, paged by keyset on the primary key.

Cursors are opaque (base64 of ``cursor:<id>``); clients must not build them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
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


async def paginate(
    query: QuerySet[Any],
    page: PageRequest,
    to_node: Callable[[Any], NodeType],
    *,
    newest_first: bool = False,
    text_key: str | None = None,
) -> Connection[NodeType]:
    """Page ``query`` by primary key, or by ``text_key``, a unique text column (the
    registry's tenants by ``slug``: their ids are not integers); ``newest_first`` lists
    the highest keys first."""
    size = page.size()
    backwards = page.last is not None
    column = text_key or "id"
    decode: Callable[[str], int | str] = decode_text_cursor if text_key else decode_cursor
    if page.after is not None:
        key = decode(page.after)
        query = query.filter(**{f"{column}__lt" if newest_first else f"{column}__gt": key})
    if page.before is not None:
        key = decode(page.before)
        query = query.filter(**{f"{column}__gt" if newest_first else f"{column}__lt": key})
    ascending = newest_first == backwards
    order = column if ascending else f"-{column}"
    rows: Sequence[Any] = await query.order_by(order).limit(size + 1)
    has_more = len(rows) > size
    rows = list(rows[:size])
    if backwards:
        rows.reverse()
    edges = [Edge(cursor=encode_cursor(getattr(row, column)), node=to_node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_more and not backwards,
            has_previous_page=has_more and backwards,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
