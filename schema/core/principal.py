"""Who is asking: the principal a request (or a job) acts as, and what it may do.

A request may act only if the token's scope and the user's roles both allow it, so a
principal carries the *effective* grants: the role grants already narrowed by the
token's scope. A grant holds for the whole tenant or only for some merchants (a role
limited to one merchant).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

ALL_MERCHANTS: None = None  # a grant's merchants: None means every merchant of the tenant


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"
    USER = "user"
    CLIENT = "client"  # an OAuth client acting as itself (client credentials)
    SYSTEM = "system"  # a background job or a command run by an operator


@dataclass(frozen=True, slots=True)
class Grants:
    """permission -> the merchants it holds for (None: all of them)."""

    by_permission: Mapping[str, frozenset[int] | None] = field(default_factory=dict)

    @classmethod
    def merge(cls, grants: Iterable[tuple[str, int | None]]) -> Grants:
        """From (permission, merchant id or None) pairs, e.g. one per role permission."""
        merged: dict[str, frozenset[int] | None] = {}
        for permission, merchant_id in grants:
            held = merged.get(permission, frozenset())
            if held is None or merchant_id is None:
                merged[permission] = None
            else:
                merged[permission] = held | {merchant_id}
        return cls(merged)

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.by_permission)

    def allows(self, permission: str, merchant_id: int | None = None) -> bool:
        """Held at all (``merchant_id`` None), or held for that merchant."""
        if permission not in self.by_permission:
            return False
        merchants = self.by_permission[permission]
        return merchant_id is None or merchants is None or merchant_id in merchants

    def merchants(self, permission: str) -> frozenset[int] | None:
        """The merchants ``permission`` is limited to; None for all, empty when not held."""
        return self.by_permission.get(permission, frozenset())

    def within_scope(self, scopes: Iterable[str]) -> Grants:
        """Only the grants some scope covers. A scope is a permission (``orders:read``),
        every verb of a resource (``orders:*``) or everything (``*``); other scopes
        (``openid``, ``offline_access``) grant nothing. Runs on every request: plain set
        and prefix tests, no pattern matching."""
        scopes = set(scopes)
        if "*" in scopes:
            return self
        resources = tuple(scope[:-1] for scope in scopes if scope.endswith(":*"))
        return Grants(
            {
                permission: merchants
                for permission, merchants in self.by_permission.items()
                if permission in scopes or permission.startswith(resources)
            }
        )


NO_GRANTS = Grants()


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    grants: Grants = NO_GRANTS
    user_id: int | None = None
    client_id: str | None = None  # the OAuth client the token was issued to
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None  # the access token's ``jti``
    merchant_id: int | None = None  # merchant staff and merchants' clients belong to one
    name: str | None = None  # SYSTEM principals: what is acting ("scheduler", "cli:alice")

    @property
    def authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    @property
    def subject(self) -> str:
        """Who, as the audit trail writes it: ``user:12``, ``client:abc``, ``system:cli``."""
        match self.kind:
            case PrincipalKind.USER:
                return f"user:{self.user_id}"
            case PrincipalKind.CLIENT:
                return f"client:{self.client_id}"
            case PrincipalKind.SYSTEM:
                return f"system:{self.name}"
        return "anonymous"


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS)


def system_principal(name: str, grants: Grants = NO_GRANTS) -> Principal:
    return Principal(PrincipalKind.SYSTEM, grants=grants, name=name)
