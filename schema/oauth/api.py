"""GraphQL face of the OAuth clients: registration by the tenant's administrators.

``oauth_clients:read`` lists and reads clients, ``oauth_clients:manage`` changes them. A
grant limited to some merchants reaches only those merchants' clients; clients of no
merchant need the permission for the whole tenant. A client secret appears in a
payload exactly once (creation, rotation) and is stored only as a digest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from schema.core.errors import DomainError, ErrorCode, FieldError, PublicError
from schema.core.nodes import Node, from_global_id, register_node, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import ensure_permission, principal_of, requires
from schema.oauth import clients as service
from schema.oauth.clients import ClientSettings, Code, NewClient
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


def _error_type(prefix: str, codes: Iterable[str]) -> Any:
    """``<prefix>Error`` with its own ``<prefix>ErrorCode`` enum, one per mutation."""
    code_enum = strawberry.enum(Enum(f"{prefix}ErrorCode", {c: c for c in codes}))  # type: ignore[misc]
    annotations = {"field": list[str], "message": str, "code": code_enum}
    return strawberry.type(
        type(f"{prefix}Error", (), {"__annotations__": annotations}),
        description=f"Why {prefix[0].lower()}{prefix[1:]} changed nothing.",
    )


_SETTINGS_CODES = (Code.INVALID, Code.REQUIRED, Code.NOT_ALLOWED, Code.UNKNOWN_SCOPE, Code.TOO_MANY)
OAuthClientCreateError = _error_type("OAuthClientCreate", _SETTINGS_CODES)
OAuthClientUpdateError = _error_type(
    "OAuthClientUpdate", (*_SETTINGS_CODES, Code.NOT_FOUND, Code.NOTHING_TO_CHANGE)
)
OAuthClientSecretRotateError = _error_type(
    "OAuthClientSecretRotate", (Code.NOT_FOUND, Code.NOT_CONFIDENTIAL)
)
OAuthClientDisableError = _error_type(
    "OAuthClientDisable", (Code.INVALID, Code.NOT_FOUND, Code.ALREADY_DISABLED)
)
OAuthClientEnableError = _error_type("OAuthClientEnable", (Code.NOT_FOUND, Code.ALREADY_ACTIVE))


_ARGUMENTS = frozenset({"id", "reason"})  # fields that are arguments, not ``input`` fields


def _errors(error_type: Any, errors: list[FieldError]) -> list[Any]:
    code_enum = error_type.__annotations__["code"]
    return [
        error_type(
            field=list(e.field)
            if e.field[:1] and e.field[0] in _ARGUMENTS
            else ["input", *e.field],
            message=e.message,
            code=code_enum[e.code],
        )
        for e in errors
    ]


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


@strawberry.type
class OAuthClientCreatePayload:
    client: OAuthClientType | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Confidential clients: the secret, shown this once."
    )
    errors: list[OAuthClientCreateError] = strawberry.field(default_factory=list)


@strawberry.type
class OAuthClientUpdatePayload:
    client: OAuthClientType | None = None
    errors: list[OAuthClientUpdateError] = strawberry.field(default_factory=list)


@strawberry.type
class OAuthClientSecretRotatePayload:
    client: OAuthClientType | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="The new secret, shown this once; the old one stops working."
    )
    errors: list[OAuthClientSecretRotateError] = strawberry.field(default_factory=list)


@strawberry.type
class OAuthClientDisablePayload:
    client: OAuthClientType | None = None
    errors: list[OAuthClientDisableError] = strawberry.field(default_factory=list)


@strawberry.type
class OAuthClientEnablePayload:
    client: OAuthClientType | None = None
    errors: list[OAuthClientEnableError] = strawberry.field(default_factory=list)


def _ensure_for(context: Any, permission: str, merchant_id: int | None) -> None:
    """``permission`` for this merchant's clients, or for the whole tenant's when the
    client belongs to no merchant."""
    principal = ensure_permission(context, permission, merchant_id)
    if merchant_id is None and principal.grants.merchants(permission) is not None:
        raise PublicError(
            f"this needs the {permission!r} permission for the whole tenant", ErrorCode.FORBIDDEN
        )


def _pk(global_id: strawberry.ID) -> int | None:
    type_name, key = from_global_id(global_id)
    return int(key) if type_name == "OAuthClient" and key.isdigit() else None


async def _visible(context: Any, global_id: strawberry.ID, permission: str) -> OAuthClient | None:
    """The client, when it exists; refused (FORBIDDEN) when it is not the caller's."""
    pk = _pk(global_id)
    row = await service.get_client(pk) if pk is not None else None
    if row is not None:
        _ensure_for(context, permission, row.merchant_id)
    return row


_NOT_FOUND = FieldError(("id",), Code.NOT_FOUND, "no such OAuth client")


async def _change(
    context: Any, global_id: strawberry.ID, change: Callable[[int], Awaitable[T]]
) -> T:
    """Apply ``change`` to the client, when it exists and is the caller's to manage."""
    row = await _visible(context, global_id, MANAGE)
    if row is None:
        raise DomainError([_NOT_FOUND])
    return await change(row.id)


async def _fetch_client(key: str, context: Any) -> OAuthClientType | None:
    row = await service.get_client(int(key)) if key.isdigit() else None
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
        query = OAuthClient.all()
        merchants = principal_of(info.context).grants.merchants(READ)
        if merchants is not None:
            query = query.filter(merchant_id__in=list(merchants))
        if status is not None:
            query = query.filter(status=status)
        return await paginate(
            query,
            PageRequest(first=first, after=after, last=last, before=before),
            OAuthClientType.from_model,
        )


@strawberry.type
class OAuthMutation:
    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="Register a client. A confidential client's secret is in the payload once.",
    )
    async def oauth_client_create(
        self, info: Info, input: OAuthClientCreateInput
    ) -> OAuthClientCreatePayload:
        _ensure_for(info.context, MANAGE, input.merchant_id)
        settings = ClientSettings(
            name=input.name,
            redirect_uris=input.redirect_uris,
            grant_types=input.grant_types,
            scopes=input.scopes,
            first_party=input.first_party,
        )
        try:
            made = await service.create_client(
                NewClient(ClientKind(input.kind), settings, input.merchant_id)
            )
        except DomainError as exc:
            return OAuthClientCreatePayload(errors=_errors(OAuthClientCreateError, exc.errors))
        return OAuthClientCreatePayload(
            client=OAuthClientType.from_model(made.client), client_secret=made.secret
        )

    @strawberry.mutation(permission_classes=[requires(MANAGE)], description="Change a client.")
    async def oauth_client_update(
        self, info: Info, id: strawberry.ID, input: OAuthClientUpdateInput
    ) -> OAuthClientUpdatePayload:
        try:
            changed = await _change(
                info.context, id, lambda pk: service.update_client(pk, input.settings())
            )
        except DomainError as exc:
            return OAuthClientUpdatePayload(errors=_errors(OAuthClientUpdateError, exc.errors))
        return OAuthClientUpdatePayload(client=OAuthClientType.from_model(changed))

    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="A new secret for a confidential client, in the payload once.",
    )
    async def oauth_client_secret_rotate(
        self, info: Info, id: strawberry.ID
    ) -> OAuthClientSecretRotatePayload:
        try:
            made = await _change(info.context, id, service.rotate_secret)
        except DomainError as exc:
            return OAuthClientSecretRotatePayload(
                errors=_errors(OAuthClientSecretRotateError, exc.errors)
            )
        return OAuthClientSecretRotatePayload(
            client=OAuthClientType.from_model(made.client), client_secret=made.secret
        )

    @strawberry.mutation(
        permission_classes=[requires(MANAGE)],
        description="Stop a client: no new tokens, and its refresh tokens are revoked.",
    )
    async def oauth_client_disable(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> OAuthClientDisablePayload:
        try:
            changed = await _change(info.context, id, lambda pk: service.disable_client(pk, reason))
        except DomainError as exc:
            return OAuthClientDisablePayload(errors=_errors(OAuthClientDisableError, exc.errors))
        return OAuthClientDisablePayload(client=OAuthClientType.from_model(changed))

    @strawberry.mutation(permission_classes=[requires(MANAGE)], description="Allow a client again.")
    async def oauth_client_enable(self, info: Info, id: strawberry.ID) -> OAuthClientEnablePayload:
        try:
            changed = await _change(info.context, id, service.enable_client)
        except DomainError as exc:
            return OAuthClientEnablePayload(errors=_errors(OAuthClientEnableError, exc.errors))
        return OAuthClientEnablePayload(client=OAuthClientType.from_model(changed))


QUERIES: list[type] = [OAuthQuery]
MUTATIONS: list[type] = [OAuthMutation]
TYPES: list[type] = [OAuthClientType]
