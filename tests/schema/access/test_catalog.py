"""The permission catalog, OAuth scopes, and every permission the schema uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from schema.access.catalog import (
    NON_PERMISSION_SCOPES,
    PERMISSIONS,
    RESOURCES,
    UnknownScope,
    expand,
    is_known_scope,
    unknown_scopes,
    validate_scopes,
)
from schema.root import build_schema
from tests.schema.test_permissions import root_declarations

ROOT = Path(__file__).resolve().parents[3]
VERBS = {
    "read", "manage", "history", "create", "review", "configure", "assign", "decide", "assess",
    "sanction", "publish", "post", "place", "refund", "approve", "submit", "supervise",
    "inspect", "export",
}  # fmt: skip


def test_every_permission_is_resource_verb_with_a_description() -> None:
    for name, what in PERMISSIONS.items():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+", name), name
        assert name.partition(":")[2] in VERBS, name
        assert 10 <= len(what) <= 100, name
        assert not what.endswith("."), name
    assert "orders" in RESOURCES
    assert "audit" in RESOURCES


@pytest.mark.parametrize(
    ("scope", "known"),
    [
        ("orders:read", True),
        ("orders:*", True),
        ("*", True),
        ("openid", True),
        ("offline_access", True),
        ("orders:write", False),
        ("nothing:*", False),
        ("*:read", False),
        ("orders", False),
        ("", False),
        ("ORDERS:READ", False),
    ],
)
def test_known_scopes(scope: str, known: bool) -> None:
    assert is_known_scope(scope) is known


def test_validation_names_every_unknown_scope_once() -> None:
    assert validate_scopes(["openid", "orders:*", "users:read"]) == {
        "openid",
        "orders:*",
        "users:read",
    }
    assert unknown_scopes(["a:b", "openid", "a:b", "c"]) == ["a:b", "c"]
    with pytest.raises(UnknownScope) as caught:
        validate_scopes(["users:read", "users:write", "admin"])
    assert caught.value.unknown == ["users:write", "admin"]
    assert str(caught.value) == "unknown scope(s): users:write, admin"


def test_expand() -> None:
    assert expand(["*"]) == set(PERMISSIONS)
    assert expand(["roles:*"]) == {"roles:read", "roles:manage", "roles:assign"}
    assert expand(["openid", "users:read", "users:nothing"]) == {"users:read"}
    assert expand(NON_PERMISSION_SCOPES) == frozenset()


def _constants(module: ast.Module) -> dict[str, str]:
    """A module's top-level ``NAME = "string"`` assignments."""
    return {
        target.id: node.value.value
        for node in module.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def permissions_in_source() -> dict[str, str]:
    """Every permission passed to ``ensure_permission(...)`` or ``requires(...)`` in the
    source, as a literal or a module constant: permission -> where."""
    found = {}
    for folder in ("schema", "saas", "workers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = ast.parse(path.read_text())
            constants = _constants(module)
            for node in ast.walk(module):
                name = isinstance(node, ast.Call) and getattr(
                    node.func, "id", getattr(node.func, "attr", None)
                )
                if name not in ("ensure_permission", "requires"):
                    continue
                for arg in [*node.args, *(k.value for k in node.keywords)]:  # type: ignore[union-attr]
                    value = arg.value if isinstance(arg, ast.Constant) else None
                    value = constants.get(arg.id) if isinstance(arg, ast.Name) else value
                    if isinstance(value, str) and ":" in value:
                        found[value] = f"{path.relative_to(ROOT)}:{node.lineno}"  # type: ignore[union-attr]
    return found


def test_every_permission_the_schema_uses_is_in_the_catalog() -> None:
    declared = {
        f"{permission} ({field})"
        for field, permission in root_declarations(build_schema()).items()
        if permission not in (None, "public", "authenticated") and permission not in PERMISSIONS
    }
    used = permissions_in_source()
    assert {"settings:history", "roles:read", "access_reviews:read"} <= set(used)
    unknown = sorted(declared) + sorted(
        f"{p} ({where})" for p, where in used.items() if p not in PERMISSIONS
    )
    assert not unknown, f"permissions used but not in schema/access/catalog.py: {unknown}"
