"""The ready-made roles every tenant starts with (REQUIREMENTS.md section 3).

Each template is least privilege for the job it is named after. The exception is the
administrator: nobody grants what they do not hold, so the one who staffs the roles holds
what they grant; only approving or moving money and unmasked personal data stay with the
owner, who appoints the finance officers and operations directors. Templates are read-only
in a tenant: the platform owns them and brings them up to date (``sync_templates``), and a
tenant that wants another mix copies one into a role of its own. The owner's ``*`` covers
every permission, including those later releases add; the auditor's list is every
``read`` permission of the catalog except unmasked personal data, so it also grows with
the catalog. Merchant templates must be limited to one merchant when assigned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from schema.access.catalog import ALL, PERMISSIONS, expand


class MerchantScope(StrEnum):
    """Whether an assignment of the role names a merchant."""

    OPTIONAL = "optional"  # tenant-wide, or limited to one merchant
    REQUIRED = "required"  # always limited to one merchant (merchant owner and staff)
    FORBIDDEN = "forbidden"  # always tenant-wide (the owner, customers)


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    name: str
    description: str
    permissions: tuple[str, ...]
    merchant_scope: MerchantScope = MerchantScope.OPTIONAL


OWNER = "owner"

# A role can only be granted by someone holding all it grants, so whoever staffs the roles
# holds them: the administrator holds every permission but those reserved to the owner.
OWNER_RESERVED = frozenset(
    {"payouts:approve", "approvals:decide", "finance:manage", "personal_data:read"}
)
_ADMINISTRATOR = tuple(sorted(set(PERMISSIONS) - OWNER_RESERVED))
_AUDITOR = tuple(
    sorted(p for p in PERMISSIONS if p.endswith(":read") and p != "personal_data:read")
)
_CUSTOMER = ("orders:place", "content:post", "support:submit")

TEMPLATES: tuple[Template, ...] = (
    Template(
        OWNER, "Owner", "The tenant's owner: every permission, now and later. "
        "At least one person always holds it.", (ALL,), MerchantScope.FORBIDDEN,
    ),
    Template(
        "administrator", "Administrator",
        "Runs accounts, access, integrations and settings, and staffs every role except "
        "those that approve or move money, which the owner appoints.",
        _ADMINISTRATOR,
    ),
    Template(
        "operations_director", "Operations director",
        "Leads operations: approves plans and budgets, decides merchants and sanctions, "
        "sees every operational area.",
        (
            "merchants:read", "merchants:review", "merchants:assess", "merchants:sanction",
            "merchants:configure", "listings:read", "content:read", "moderation:read",
            "moderation:configure", "orders:read", "disputes:read", "support:read",
            "support:supervise", "risk:read", "tasks:read", "tasks:manage", "approvals:read",
            "approvals:submit", "approvals:decide", "campaigns:read", "promotions:read",
            "budgets:read", "quality:read", "quality:manage", "analytics:read",
            "analytics:export", "users:read",
        ),
    ),
    Template(
        "operations_manager", "Operations manager",
        "Runs the daily operation: assigns tasks, reviews merchants and listings, supervises "
        "moderation and service.",
        (
            "merchants:read", "merchants:review", "merchants:assess", "listings:read",
            "listings:review", "content:read", "moderation:read", "moderation:review",
            "orders:read", "disputes:read", "support:read", "support:supervise", "tasks:read",
            "tasks:manage", "approvals:read", "approvals:submit", "campaigns:read",
            "promotions:read", "quality:read", "analytics:read", "users:read",
        ),
    ),
    Template(
        "operations_specialist", "Operations specialist",
        "Does the daily online work: listings and content review, moderation, assigned tasks.",
        (
            "merchants:read", "listings:read", "listings:review", "content:read",
            "moderation:read", "moderation:review", "orders:read", "tasks:read",
            "approvals:submit", "analytics:read",
        ),
    ),
    Template(
        "content_editor", "Content editor",
        "Plans, writes, publishes and classifies content.",
        (
            "content:read", "content:manage", "content:publish", "catalog:manage",
            "listings:read", "tasks:read", "approvals:submit",
        ),
    ),
    Template(
        "campaign_planner", "Campaign planner",
        "Proposes and runs campaigns and reports on them.",
        (
            "campaigns:read", "campaigns:manage", "promotions:read", "content:read",
            "tasks:read", "approvals:read", "approvals:submit", "analytics:read",
        ),
    ),
    Template(
        "promotion_specialist", "Promotion specialist",
        "Sets up promotions and coupons for campaigns.",
        (
            "promotions:read", "promotions:manage", "campaigns:read", "listings:read",
            "tasks:read", "approvals:submit", "analytics:read",
        ),
    ),
    Template(
        "customer_service_agent", "Customer-service agent",
        "Answers inquiries and complaints, handles disputes, keeps the knowledge base.",
        (
            "support:read", "support:manage", "knowledge_base:manage", "orders:read",
            "disputes:read", "disputes:manage", "users:read", "merchants:read", "tasks:read",
        ),
    ),
    Template(
        "quality_inspector", "Quality inspector",
        "Inspects service and listings against the standards and logs issues.",
        (
            "quality:read", "quality:inspect", "merchants:read", "merchants:assess",
            "listings:read", "content:read", "support:read", "orders:read", "tasks:read",
        ),
    ),
    Template(
        "finance_officer", "Finance officer",
        "Keeps the books: invoices, collections, payouts to prepare, budgets and expenses. "
        "Payouts are approved by someone else.",
        (
            "finance:read", "finance:manage", "payouts:read", "payouts:manage",
            "budgets:read", "budgets:manage", "expenses:manage", "orders:read",
            "orders:refund", "disputes:read", "merchants:read", "approvals:read",
            "approvals:submit", "analytics:read", "analytics:export",
        ),
    ),
    Template(
        "auditor", "Auditor",
        "Reads everything, the audit trail included, and changes nothing; personal data "
        "stays masked.",
        _AUDITOR,
    ),
    Template(
        "merchant_owner", "Merchant owner",
        "Runs one merchant: its profile, listings, orders, service and its staff's roles.",
        (
            "merchants:read", "merchants:manage", "listings:read", "listings:manage",
            "orders:read", "orders:manage", "orders:refund", "disputes:read",
            "disputes:manage", "finance:read", "payouts:read", "promotions:read",
            "promotions:manage", "support:read", "support:manage", "analytics:read",
            "users:read", "roles:read", "roles:assign",
        ),
        MerchantScope.REQUIRED,
    ),
    Template(
        "merchant_staff", "Merchant staff",
        "Works for one merchant: its listings, orders and customers' tickets.",
        (
            "merchants:read", "listings:read", "listings:manage", "orders:read",
            "orders:manage", "support:read", "support:manage",
        ),
        MerchantScope.REQUIRED,
    ),
    Template(
        "member", "Member",
        "A paying or upgraded customer: what a user does, plus members-only content.",
        (*_CUSTOMER, "member_content:read"),
        MerchantScope.FORBIDDEN,
    ),
    Template(
        "user", "User",
        "An ordinary customer: orders, posts and service requests of their own.",
        _CUSTOMER,
        MerchantScope.FORBIDDEN,
    ),
)  # fmt: skip

TEMPLATES_BY_KEY: dict[str, Template] = {t.key: t for t in TEMPLATES}


def _listed(permissions: Iterable[str]) -> str:
    return ", ".join(f"`{p}`" for p in sorted(permissions))


def describe(permissions: Iterable[str]) -> str:
    """A template's permissions in a few words where a list would be long."""
    held = expand(permissions)
    reads = {p for p in PERMISSIONS if p.endswith(":read")}
    if held == set(PERMISSIONS):
        return "every permission (`*`)"
    if len(PERMISSIONS) - len(held) <= 8:
        return f"every permission except {_listed(set(PERMISSIONS) - held)}"
    if held <= reads and len(reads - held) <= 8:
        return f"every `read` permission except {_listed(reads - held)}"
    return _listed(held)


def template_table() -> str:
    """The README's list of templates, generated here so the two never differ."""
    rows = [
        f"| `{t.key}` | {t.name} | {t.merchant_scope.value} | {describe(t.permissions)} |"
        for t in TEMPLATES
    ]
    header = "| key | role | merchant | permissions |\n|---|---|---|---|"
    return "\n".join([header, *rows])
