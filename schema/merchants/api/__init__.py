"""GraphQL face of the merchants domain, one module per part of a merchant's life;
``QUERIES``, ``MUTATIONS`` and ``TYPES`` gather theirs for ``schema.root``."""

from __future__ import annotations

from typing import Any

from schema.core.nodes import register_node, row_id
from schema.core.permissions import ensure_authenticated
from schema.merchants.api import (
    agreements,
    applications,
    documents,
    profiles,
    reviews,
    sanctions,
    staff,
    standards,
    watchlist,
)
from schema.merchants.api.common import may_see
from schema.merchants.api.types import MerchantNode
from schema.merchants.models import Merchant


async def _fetch_merchant(key: str, context: Any) -> MerchantNode | None:
    principal = ensure_authenticated(context)
    merchant_id = row_id(key)
    merchant = await Merchant.get_or_none(id=merchant_id) if merchant_id else None
    if merchant is None or not may_see(principal, merchant):
        return None
    return MerchantNode.from_model(merchant)


register_node("Merchant", _fetch_merchant)

_PARTS = (
    standards,
    applications,
    documents,
    reviews,
    watchlist,
    agreements,
    staff,
    sanctions,
    profiles,
)

QUERIES: list[type] = [q for part in _PARTS for q in part.QUERIES]
MUTATIONS: list[type] = [m for part in _PARTS for m in part.MUTATIONS]
TYPES: list[type] = [MerchantNode, *(t for part in _PARTS for t in part.TYPES)]
