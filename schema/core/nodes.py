"""Relay global object identification: ``id`` is base64 of ``<Type>:<key>``, and the root
``node(id:)`` field fetches any registered type by it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from schema.core.errors import ErrorCode, PublicError

NodeFetcher = Callable[[str, Any], Awaitable[Any]]
_fetchers: dict[str, NodeFetcher] = {}


@strawberry.interface(description="An object with a global ID.")
class Node:
    id: strawberry.ID


def to_global_id(type_name: str, key: object) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{key}".encode()).decode())


def from_global_id(global_id: str) -> tuple[str, str]:
    try:
        type_name, _, key = base64.b64decode(global_id, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise PublicError("invalid ID", ErrorCode.BAD_REQUEST) from None
    if not type_name or not key:
        raise PublicError("invalid ID", ErrorCode.BAD_REQUEST)
    return type_name, key


def register_node(type_name: str, fetch: NodeFetcher) -> None:
    """Called once per node type at import. The fetcher gets the key and the request
    context, runs inside the tenant's scope and applies the type's own read permission."""
    _fetchers[type_name] = fetch


async def fetch_node(global_id: str, context: Any) -> Any | None:
    type_name, key = from_global_id(global_id)
    fetch = _fetchers.get(type_name)
    return None if fetch is None else await fetch(key, context)


MAX_ROW_ID = 2**31 - 1  # id columns are 32-bit: a larger key must never reach the database


def row_id(key: str, maximum: int = MAX_ROW_ID) -> int | None:
    """A global ID's key as a row id, or None when no row can have it (``maximum``: the
    largest id the column holds)."""
    if not (key.isascii() and key.isdigit()) or not 0 < int(key) <= maximum:
        return None
    return int(key)


def row_id_of(global_id: str, type_name: str) -> int | None:
    """The row id in a global ID of ``type_name``; None for another type or a bad key."""
    found, key = from_global_id(global_id)
    return row_id(key) if found == type_name else None
