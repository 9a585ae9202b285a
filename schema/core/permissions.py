"""Every root field declares who may call it: deny by default.

``public`` marks a field anyone of the tenant may call; ``requires("resource:verb")``
marks a field that needs a permission. Until identity exists no request carries
permissions, so every ``requires`` field is refused. A test walks the schema and fails
the build when a root field has no declaration.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.core.errors import ErrorCode, PublicError


class Public(BasePermission):
    message = "public"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True


def ensure_permission(context: Any, permission: str) -> None:
    granted: frozenset[str] = getattr(context, "permissions", frozenset())
    if permission not in granted:
        raise PublicError(f"this needs the {permission!r} permission", ErrorCode.FORBIDDEN)


class _Requires(BasePermission):
    permission: str = ""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ensure_permission(info.context, self.permission)
        return True


def requires(permission: str) -> type[BasePermission]:
    return type(f"Requires[{permission}]", (_Requires,), {"permission": permission})


def declared_permission(permission_classes: list[type[BasePermission]]) -> str | None:
    """What a field declares: ``public``, the permission string, or None."""
    for cls in permission_classes:
        if issubclass(cls, Public):
            return "public"
        if issubclass(cls, _Requires):
            return cls.permission
    return None


public = Public
