"""Which scopes a client may register and a token may carry.

A token's scope is what was asked for, narrowed to what the client may ask for; the
user's roles are not consulted here (the edge narrows them by the scope per request), so
a role change takes effect at once instead of when the token is refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable

from schema.access import catalog

OFFLINE_ACCESS = "offline_access"  # asks for a refresh token
# What a client may register: permissions, patterns of them, and offline_access. The
# OpenID Connect scopes are refused: no ID tokens are issued.
REGISTRABLE_EXTRA = frozenset({OFFLINE_ACCESS})


def describe(scope: str) -> str:
    """What a scope lets the client do, for the consent page."""
    if scope == OFFLINE_ACCESS:
        return "keep access while you are away (a refresh token)"
    if scope == catalog.ALL:
        return "everything your roles allow"
    if catalog.is_pattern(scope):
        return f"everything your roles allow on {scope[:-2].replace('_', ' ')}"
    return catalog.PERMISSIONS.get(scope, scope)


def is_registrable(scope: str) -> bool:
    return catalog.is_permission_scope(scope) or scope in REGISTRABLE_EXTRA


def _covered(scope: str, allowed: list[str]) -> bool:
    """``scope`` asks for nothing beyond ``allowed``: listed there, or a permission (or
    pattern) a listed pattern covers. offline_access is granted only when listed."""
    if scope in allowed:
        return True
    return catalog.is_permission_scope(scope) and any(
        catalog.is_pattern(a) and catalog.covers(a, scope) for a in allowed
    )


def grantable(allowed: Iterable[str], requested: str | None) -> str | None:
    """The scope to grant, as a space-separated string: everything ``requested`` that
    ``allowed`` covers, or (nothing requested) every allowed scope except
    offline_access, which must be asked for. None when something was requested and none
    of it may be granted (``invalid_scope``)."""
    allowed = list(allowed)
    if not requested or not requested.strip():
        return " ".join(s for s in allowed if s != OFFLINE_ACCESS)
    asked = list(dict.fromkeys(requested.split()))
    granted = [s for s in asked if _covered(s, allowed)]
    return " ".join(granted) if granted else None


def split(scope: str | None) -> list[str]:
    return list(dict.fromkeys((scope or "").split()))
