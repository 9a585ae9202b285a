"""The Tortoise ``engine`` module for both aliases.

Tortoise builds a client with ``client_class(**credentials)``; the credentials carry the
backend object, which picks the client class for the alias's role (``shared`` or
``guard``). Tenant clients are never made by Tortoise: the backend leases them and
``tenant_scope()`` binds them.
"""

from typing import Any


def get_client_class(db_info: dict[str, Any]) -> type:
    credentials = db_info["credentials"]
    return credentials["backend"].client_class(credentials["role"])
