"""GraphQL face of the watch list (``merchants:configure``): what the automated review
compares applications with. Values come back normalized, as they are compared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from schema.core.mutations import mutation_types
from schema.core.nodes import Node, register_node, row_id, row_id_of, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import ensure_tenant_wide, principal_of, requires_tenant_wide
from schema.merchants.api.common import MERCHANTS_CONFIGURE
from schema.merchants.errors import Code
from schema.merchants.models import WatchListEntry, WatchListKind
from schema.merchants.service import watchlist

strawberry.enum(
    WatchListKind,
    name="MerchantWatchListKind",
    description="What a watch-list entry is compared with.",
)

NODE = "MerchantWatchListEntry"


@strawberry.type(
    name=NODE,
    description="A value the automated review flags: an application matching it goes to a "
    "reviewer with HIGH risk.",
)
class WatchListEntryNode(Node):
    kind: WatchListKind
    value: str = strawberry.field(
        description="Normalized: names folded (case, Unicode variants, punctuation, legal forms "
        "such as Ltd or GmbH dropped), e-mail addresses and @domains lower-cased, phone numbers "
        "E.164, registration numbers letters and digits only."
    )
    reason: str
    created_by: str
    created_at: datetime

    @classmethod
    def from_model(cls, row: WatchListEntry) -> WatchListEntryNode:
        return cls(
            id=to_global_id(NODE, row.id),
            kind=row.kind,
            value=row.value,
            reason=row.reason,
            created_by=row.created_by,
            created_at=row.created_at,
        )


async def _fetch_entry(key: str, context: Any) -> WatchListEntryNode | None:
    ensure_tenant_wide(context, MERCHANTS_CONFIGURE)
    entry_id = row_id(key)
    row = await WatchListEntry.get_or_none(id=entry_id) if entry_id else None
    return WatchListEntryNode.from_model(row) if row else None


register_node(NODE, _fetch_entry)

_INPUT = (Code.REQUIRED, Code.INVALID, Code.TOO_LONG)
ADD = mutation_types(
    "merchantWatchListEntryAdd", (*_INPUT, Code.ALREADY_LISTED), entry=WatchListEntryNode
)
REMOVE = mutation_types(
    "merchantWatchListEntryRemove",
    (Code.NOT_FOUND, *_INPUT),
    removed_id=strawberry.ID,
)
MerchantWatchListEntryAddPayload = ADD.payload
MerchantWatchListEntryRemovePayload = REMOVE.payload


@strawberry.input
class MerchantWatchListEntryAddInput:
    kind: WatchListKind
    value: str = strawberry.field(
        description="A name, a registration number, an e-mail address or a whole domain "
        "(``@example.com``), or a phone number in international form."
    )
    reason: str = strawberry.field(description="Why it is watched (kept with the entry).")


async def _entry_result(row: WatchListEntry) -> dict[str, Any]:
    return {"entry": WatchListEntryNode.from_model(row)}


@strawberry.type
class WatchListQuery:
    @strawberry.field(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="The watch list, newest first.",
    )
    async def merchant_watch_list(
        self,
        kind: WatchListKind | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WatchListEntryNode]:
        page = PageRequest(first=first, after=after, last=last, before=before)
        return await paginate(
            watchlist.entries(kind), page, WatchListEntryNode.from_model, newest_first=True
        )


@strawberry.type
class WatchListMutation:
    @strawberry.mutation(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="Put a value on the watch list (stored normalized).",
    )
    async def merchant_watch_list_entry_add(
        self, info: strawberry.Info, input: MerchantWatchListEntryAddInput
    ) -> MerchantWatchListEntryAddPayload:
        call = watchlist.add_entry(
            principal_of(info.context), input.kind, input.value, input.reason
        )
        return await ADD.run(call, _entry_result)

    @strawberry.mutation(
        permission_classes=[requires_tenant_wide(MERCHANTS_CONFIGURE)],
        description="Take an entry off the watch list; applications already screened keep "
        "their findings.",
    )
    async def merchant_watch_list_entry_remove(
        self, id: strawberry.ID, reason: str
    ) -> MerchantWatchListEntryRemovePayload:
        async def removed(_: None) -> dict[str, Any]:
            return {"removed_id": id}

        return await REMOVE.run(watchlist.remove_entry(row_id_of(id, NODE), reason), removed)


QUERIES: list[type] = [WatchListQuery]
MUTATIONS: list[type] = [WatchListMutation]
TYPES: list[type] = [WatchListEntryNode]
