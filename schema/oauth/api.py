"""GraphQL face of the OAuth clients: registration by the tenant's administrators.

``oauth_clients:read`` lists and reads clients, ``oauth_clients:manage`` changes them. A
grant limited to some merchants reaches only those merchants' clients; clients of no
merchant need the permission for the whole tenant. A client secret appears in a
payload exactly once (creation, rotation) and is stored only as a digest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from schema.core.errors import ErrorCode, PublicError, fail
from schema.core.mutations import Described, MutationTypes, mutation_types
from schema.core.nodes import Node, register_node, row_id, row_id_of, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import (
    covers,
    ensure_permission,
    limit_to_merchants,
    principal_of,
    requires,
)
from schema.oauth import clients as service
from schema.oauth.clients import ClientSettings, Code, NewClient, Registered
from schema.oauth.models import ClientKind, ClientStatus, GrantType, OAuthClient

T = TypeVar("T")
READ = "oauth_clients:read"
MANAGE = "oauth_clients:manage"

OAuthClientKind = strawberry.enum(ClientKind, name="OAuthClientKind")
OAuthClientStatus = strawberry.enum(ClientStatus, name="OAuthClientStatus")
OAuthGrantType = strawberry.enum(GrantType, name="OAuthGrantType")


@strawberry.type(name="OAuthClient", description="An application allowed to ask for tokens.")
class OAuthClientType(Node):
    client_id: str = strawberry.field(description="The public identifier used in OAuth flows.")
    name: str
    kind: OAuthClientKind
    redirect_uris: list[str] = strawberry.field(description="Matched as exact strings.")
    grant_types: list[OAuthGrantType]
    scopes: list[str] = strawberry.field(description="The scopes it may ask for.")
    merchant_id: int | None = strawberry.field(description="The merchant whose server it is.")
    first_party: bool = strawberry.field(description="The tenant's own app: no consent page.")
    status: OAuthClientStatus
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime | None

    @classmethod
    def from_model(cls, row: OAuthClient) -> OAuthClientType:
        return cls(
            id=to_global_id("OAuthClient", row.id),
            client_id=row.client_id,
            name=row.name,
            kind=ClientKind(row.kind),
            redirect_uris=list(row.redirect_uris),
            grant_types=[GrantType(g) for g in row.grant_types],
            scopes=list(row.scopes),
            merchant_id=row.merchant_id,
            first_party=row.first_party,
            status=ClientStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            secret_rotated_at=row.secret_rotated_at,
        )


@strawberry.input
class OAuthClientCreateInput:
    name: str
    kind: OAuthClientKind
    grant_types: list[OAuthGrantType]
    redirect_uris: list[str] = strawberry.field(default_factory=list)
    scopes: list[str] = strawberry.field(default_factory=list)
    merchant_id: int | None = strawberry.field(
        default=None, description="Set for a merchant's own server: its tokens act for it."
    )
    first_party: bool = False


@strawberry.input(description="Only the fields given change; kind and merchant never do.")
class OAuthClientUpdateInput:
    name: str | None = None
    grant_types: list[OAuthGrantType] | None = None
    redirect_uris: list[str] | None = None
    scopes: list[str] | None = None
    first_party: bool | None = None

    def settings(self) -> ClientSettings:
        return ClientSettings(
            name=self.name,
            redirect_uris=self.redirect_uris,
            grant_types=self.grant_types,
            scopes=self.scopes,
            first_party=self.first_party,
        )


def _client_mutation(verb: str, codes: Iterable[str], **fields: Any) -> MutationTypes:
    """``oauthClient<verb>``'s types, spelled ``OAuthClient<verb>...`` as the others."""
    return mutation_types(f"oauthClient{verb}", codes, type_prefix=f"OAuthClient{verb}", **fields)


_SETTINGS_CODES = (Code.INVALID, Code.REQUIRED, Code.NOT_ALLOWED, Code.UNKNOWN_SCOPE, Code.TOO_MANY)
OAUTH_CLIENT_CREATE = _client_mutation(
    "Create",
    _SETTINGS_CODES,
    client=OAuthClientType,
    client_secret=Described(str, "Confidential clients: the secret, shown this once."),
)
OAUTH_CLIENT_UPDATE = _client_mutation(
    "Update", (*_SETTINGS_CODES, Code.NOT_FOUND, Code.NOTHING_TO_CHANGE), client=OAuthClientType
)
OAUTH_CLIENT_SECRET_ROTATE = _client_mutation(
    "SecretRotate",
    (Code.NOT_FOUND, Code.NOT_CONFIDENTIAL),
    client=OAuthClientType,
    client_secret=Described(str, "The new secret, shown this once; the old one stops working."),
)
OAUTH_CLIENT_DISABLE = _client_mutation(
    "Disable", (Code.INVALID, Code.NOT_FOUND, Code.ALREADY_DISABLED), client=OAuthClientType
)
OAUTH_CLIENT_ENABLE = _client_mutation(
    "Enable", (Code.NOT_FOUND, Code.ALREADY_ACTIVE), client=OAuthClientType
)


def _ensure_for(context: Any, permission: str, merchant_id: int | None) -> None:
    """``permission`` for this merchant's clients, or for the whole tenant's when the
    client belongs to no merchant."""
    principal = ensure_permission(context, permission, merchant_id)
    if not covers(principal, permission, merchant_id):
        raise PublicError(
            f"this needs the {permission!r} permission for the whole tenant", ErrorCode.FORBIDDEN
        )


async def _visible(context: Any, global_id: strawberry.ID, permission: str) -> OAuthClient | None:
    """The client, when it exists; refused (FORBIDDEN) when it is not the caller's."""
    pk = row_id_of(global_id, "OAuthClient")
    row = await service.get_client(pk) if pk is not None else None
    if row is not None:
        _ensure_for(context, permission, row.merchant_id)
    return row


async def _change(
    context: Any, global_id: strawberry.ID, change: Callable[[int], Awaitable[T]]
) -> T:
    """Apply ``change`` to the client, when it exists and is the caller's to manage."""
    row = await _visible(context, global_id, MANAGE)
    if row is None:
        raise fail("id", Code.NOT_FOUND, "no such OAuth client")
    return await change(row.id)


async def _fetch_client(key: str, context: Any) -> OAuthClientType | None:
    row = await service.get_client(pk) if (pk := row_id(key)) else None
    if row is None:
        return None
    _ensure_for(context, READ, row.merchant_id)
    return OAuthClientType.from_model(row)


register_node("OAuthClient", _fetch_client)


@strawberry.type
class OAuthQuery:
    @strawberry.field(
        permission_classes=[requires(READ)],
        description="The tenant's OAuth clients (a merchant-limited grant: its merchants').",
    )
    async def oauth_clients(
        self,
        info: Info,
        status: OAuthClientStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[OAuthClientType]:
        query = limit_to_merchants(OAuthClient.all(), principal_of(info.context), READ)
        if status is not None:
            query = query.filter(status=status)
        return await paginate(
            query,
            PageRequest(first=first, after=after, last=last, before=before),
            OAuthClientType.from_model,
        )


async def _client_result(row: OAuthClient) -> dict[str, Any]:
    return {"client": OAuthClientType.from_model(row)}


async def _registered_result(made: Registered) -> dict[str, Any]:
    return {"client": OAuthClientType.from_model(made.client), "client_secret": made.secret}


@strawberry.type
class OAuthMutation:
    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="Register a client. A confidential client's secret is in the payload once.",
    )
    async def oauth_client_create(
        self, info: Info, input: OAuthClientCreateInput
    ) -> OAUTH_CLIENT_CREATE.payload:
        _ensure_for(info.context, MANAGE, input.merchant_id)
        settings = ClientSettings(
            name=input.name,
            redirect_uris=input.redirect_uris,
            grant_types=input.grant_types,
            scopes=input.scopes,
            first_party=input.first_party,
        )
        call = service.create_client(NewClient(ClientKind(input.kind), settings, input.merchant_id))
        return await OAUTH_CLIENT_CREATE.run(call, _registered_result)

    @strawberry.mutation(permission_classes=[requires(MANAGE)], description="Change a client.")
    async def oauth_client_update(
        self, info: Info, id: strawberry.ID, input: OAuthClientUpdateInput
    ) -> OAUTH_CLIENT_UPDATE.payload:
        call = _change(info.context, id, lambda pk: service.update_client(pk, input.settings()))
        return await OAUTH_CLIENT_UPDATE.run(call, _client_result)

    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="A new secret for a confidential client, in the payload once.",
    )
    async def oauth_client_secret_rotate(
        self, info: Info, id: strawberry.ID
    ) -> OAUTH_CLIENT_SECRET_ROTATE.payload:
        call = _change(info.context, id, service.rotate_secret)
        return await OAUTH_CLIENT_SECRET_ROTATE.run(call, _registered_result)

    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="Stop a client: no new tokens, and its refresh tokens are revoked.",
    )
    async def oauth_client_disable(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> OAUTH_CLIENT_DISABLE.payload:
        call = _change(info.context, id, lambda pk: service.disable_client(pk, reason))
        return await OAUTH_CLIENT_DISABLE.run(call, _client_result)

    @strawberry.mutation(permission_classes=[requires(MANAGE)], description="Allow a client again.")
    async def oauth_client_enable(
        self, info: Info, id: strawberry.ID
    ) -> OAUTH_CLIENT_ENABLE.payload:
        return await OAUTH_CLIENT_ENABLE.run(
            _change(info.context, id, service.enable_client), _client_result
        )


QUERIES: list[type] = [OAuthQuery]
MUTATIONS: list[type] = [OAuthMutation]
TYPES: list[type] = [OAuthClientType]
