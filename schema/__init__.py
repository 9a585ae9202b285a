"""The domain and its GraphQL face: one package per domain, plus ``core`` and the root."""

from collections.abc import Awaitable, Callable

from tenants.records import TenantRecord

# Every module holding tenant models (Tortoise app ``tenant``).
TENANT_MODEL_MODULES: tuple[str, ...] = (
    "schema.settings.models",
    "schema.identity.models",
    "schema.access.models",
    "schema.audit.models",
    "schema.oauth.models",
    "schema.files.models",
    "schema.merchants.models",
    "schema.idempotency.models",
)


def provision_hooks() -> list[Callable[[TenantRecord], Awaitable[None]]]:
    """What each domain seeds in a new tenant's schema, in order."""
    from schema.access.service import seed_templates
    from schema.oauth.keys import provision_signing_key
    from schema.settings.service import initialize_settings

    return [initialize_settings, seed_templates, provision_signing_key]
