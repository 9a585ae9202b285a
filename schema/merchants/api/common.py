"""Who may see and act on which merchant: the object-level rules every merchants
resolver applies after the field's declared permission.

- The applicant (``owner_user_id``) always sees their own merchant, draft included.
- Otherwise a merchant is seen through a permission that covers it (``covers``): a
  grant limited to some merchants (merchant staff) covers only those. Drafts are the
  applicant's alone.
- A merchant the principal may not see does not exist for it: NOT_FOUND, never
  FORBIDDEN, so nobody learns which ids exist.
"""

from __future__ import annotations

from schema.core.errors import fail
from schema.core.nodes import row_id_of
from schema.core.permissions import covers
from schema.core.principal import Principal
from schema.merchants.errors import Code
from schema.merchants.models import Merchant
from schema.merchants.status import MerchantStatus

MERCHANTS_READ = "merchants:read"
MERCHANTS_MANAGE = "merchants:manage"
MERCHANTS_REVIEW = "merchants:review"
MERCHANTS_SANCTION = "merchants:sanction"
MERCHANTS_CONFIGURE = "merchants:configure"
FINANCE_MANAGE = "finance:manage"  # records onboarding fees
# Who acts on a merchant sees it, even without merchants:read (a token scoped to
# merchants:review alone still shows the applications of its queue).
ACTING_PERMISSIONS = (MERCHANTS_MANAGE, MERCHANTS_REVIEW, MERCHANTS_SANCTION, FINANCE_MANAGE)


def is_owner(principal: Principal, merchant: Merchant) -> bool:
    return principal.user_id is not None and principal.user_id == merchant.owner_user_id


def reached_tenant(merchant: Merchant) -> bool:
    """Whether the application was ever submitted: until then (a draft, or a draft
    withdrawn unsubmitted) it is the applicant's alone."""
    return merchant.status is not MerchantStatus.DRAFT and merchant.submitted_at is not None


def granted(principal: Principal, merchant: Merchant, permission: str) -> bool:
    """Whether the principal's ``permission`` covers ``merchant`` (never one that has not
    reached the tenant)."""
    return (
        reached_tenant(merchant)
        and principal.grants.allows(permission)
        and covers(principal, permission, merchant.id)
    )


def may_see(principal: Principal, merchant: Merchant) -> bool:
    """Whether the principal sees ``merchant`` at all: to read it, or to act on it."""
    return is_owner(principal, merchant) or any(
        granted(principal, merchant, p) for p in (MERCHANTS_READ, *ACTING_PERMISSIONS)
    )


def tenant_side(principal: Principal, merchant: Merchant) -> bool:
    """Whether the principal sees ``merchant`` as the tenant's staff (a grant not limited
    to some merchants), not as its owner or its own staff. The tenant's assessment (the
    risk level, who reviewed it) is for the tenant's side alone."""
    grants = principal.grants
    return reached_tenant(merchant) and any(
        grants.allows(p) and grants.merchants(p) is None
        for p in (MERCHANTS_READ, *ACTING_PERMISSIONS)
    )


def may_download(principal: Principal, merchant: Merchant) -> bool:
    """Whether the principal gets links to the merchant's documents (the legal
    representative's identity, the bank account proof): its owner, whoever manages it, and
    the tenant's side; not every member of its staff."""
    return (
        is_owner(principal, merchant)
        or granted(principal, merchant, MERCHANTS_MANAGE)
        or tenant_side(principal, merchant)
    )


async def _visible(principal: Principal, global_id: str, field: str) -> Merchant:
    row_id = row_id_of(global_id, "Merchant")
    merchant = await Merchant.get_or_none(id=row_id) if row_id is not None else None
    if merchant is None or not may_see(principal, merchant):
        raise fail(field, Code.NOT_FOUND, "no such merchant")
    return merchant


async def merchant_for(
    principal: Principal, global_id: str, permission: str, *, field: str = "id"
) -> Merchant:
    """The merchant ``global_id`` names, when the principal's ``permission`` covers it.
    NOT_FOUND when they cannot see it at all (as for an id that does not exist); the
    field's own permission check already refused those without the permission."""
    merchant = await _visible(principal, global_id, field)
    if not granted(principal, merchant, permission):
        raise fail(field, Code.NOT_FOUND, "no such merchant")
    return merchant


async def owned_merchant(principal: Principal, global_id: str, *, field: str = "id") -> Merchant:
    """The merchant ``global_id`` names, when the principal is its owner: NOT_FOUND when
    they cannot see it, NOT_OWNER when they see it through a role but are not its owner
    (the applicant's own steps are theirs alone)."""
    merchant = await _visible(principal, global_id, field)
    if not is_owner(principal, merchant):
        raise fail(field, Code.NOT_OWNER, "only the merchant's owner can do this")
    return merchant


async def managed_merchant(principal: Principal, global_id: str, *, field: str = "id") -> Merchant:
    """The merchant ``global_id`` names, for its owner or a principal whose
    ``merchants:manage`` covers it (its staff with that grant, the tenant's staff)."""
    merchant = await _visible(principal, global_id, field)
    if not (is_owner(principal, merchant) or granted(principal, merchant, MERCHANTS_MANAGE)):
        raise fail(field, Code.NOT_FOUND, "no such merchant")
    return merchant
