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


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{key}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        prefix, _, key = raw.partition(":")
        if prefix != "cursor":
            raise ValueError(cursor)
        return int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
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
) -> Connection[NodeType]:
    """Page ``query`` by primary key; ``newest_first`` lists the highest ids first."""
    size = page.size()
    backwards = page.last is not None
    if page.after is not None:
        key = decode_cursor(page.after)
        query = query.filter(id__lt=key) if newest_first else query.filter(id__gt=key)
    if page.before is not None:
        key = decode_cursor(page.before)
        query = query.filter(id__gt=key) if newest_first else query.filter(id__lt=key)
    ascending = newest_first == backwards
    rows: Sequence[Any] = await query.order_by("id" if ascending else "-id").limit(size + 1)
    has_more = len(rows) > size
    rows = list(rows[:size])
    if backwards:
        rows.reverse()
    edges = [Edge(cursor=encode_cursor(row.id), node=to_node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_more and not backwards,
            has_previous_page=has_more and backwards,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
