"""Every permission of the platform, and the OAuth scopes built from them.

A permission is a ``resource:verb`` string. The verbs are few and mean the same on every
resource:

- ``read``: see the resource's records (never more than the grant's merchant, when limited);
- ``manage``: create, edit and run the resource's day-to-day lifecycle;
- ``review`` / ``approve`` / ``decide``: take the decision a process waits for;
- ``configure``: change the rules (policies, thresholds, standards) the resource follows;
- a few specific verbs where one action needs to be granted on its own (``orders:refund``,
  ``merchants:sanction``, ``roles:assign``).

Self-service permissions (``orders:place``, ``content:post``...) cover what a customer does
with their own records; everything else is staff work. The catalog lists the platform's
domains ahead of their code, so that role templates mean something from the first day and
a token asked for today keeps its meaning when the domain arrives.

A scope (OAuth) is a permission, a pattern of them (``orders:*``, ``*``) or one of the
non-permission scopes of OpenID Connect (``openid``, ``profile``, ``email``,
``offline_access``). A role's permission list takes the same permissions and patterns.
"""

from __future__ import annotations

from collections.abc import Iterable

PERMISSIONS: dict[str, str] = {
    # --- the tenant itself --------------------------------------------------------------
    "settings:read": "see the tenant's full settings and configuration",
    "settings:manage": "change the tenant's settings (name, locale, currency, time zone)",
    "settings:history": "see the change log of the tenant's settings",
    "backups:read": "see the tenant's backups and their verification results",
    "backups:create": "ask for a backup of the tenant's data",
    "audit:read": "search and read the audit trail (who did what, when, from where)",
    # --- identity and access ------------------------------------------------------------
    "users:read": "list user accounts and see their profiles, status and sign-in history",
    "users:manage": "edit, deactivate and reactivate accounts and clear their lock-outs",
    "personal_data:read": "see personal and sensitive data unmasked (documents, full phone)",
    "identity:review": "decide identity and qualification verifications users submitted",
    "identity:configure": "set what registration requires and the password policy",
    "roles:read": "see roles, their permissions and who holds them",
    "roles:manage": "create, edit and delete the tenant's own roles",
    "roles:assign": "grant and take back roles (only permissions the granter holds itself)",
    "access_reviews:read": "see access reviews and their items",
    "access_reviews:decide": "confirm or revoke the items of an access review",
    "oauth_clients:read": "see the OAuth clients registered for the tenant",
    "oauth_clients:manage": "register, edit, suspend and delete OAuth clients and secrets",
    # --- merchants ----------------------------------------------------------------------
    "merchants:read": "see merchant profiles, agreements, cooperation history, evaluations",
    "merchants:manage": "edit merchant profiles, documents and agreement acceptance",
    "merchants:review": "decide merchant applications (approve, reject, ask for more)",
    "merchants:assess": "record merchants' periodic assessments and ratings",
    "merchants:sanction": "warn, suspend or remove a merchant, with the reason",
    "merchants:configure": "set onboarding standards and the cooperation agreement versions",
    # --- listings and the catalog -------------------------------------------------------
    "listings:read": "see offers and listings, including those not yet visible",
    "listings:manage": "create, edit, withdraw and submit offers and listings",
    "listings:review": "review offers before they become visible",
    "catalog:manage": "manage categories and tags that classify listings and content",
    # --- content and moderation ---------------------------------------------------------
    "content:read": "see content in every state: plans, drafts, scheduled, expired",
    "content:manage": "plan, draft, edit and submit articles, announcements and pages",
    "content:publish": "publish, schedule, update and expire content",
    "content:post": "post one's own posts, reviews and comments, and appeal decisions",
    "member_content:read": "see members-only content and offers",
    "moderation:read": "see the moderation queue, reports, decisions and appeals",
    "moderation:review": "decide flagged and reported items and appeals",
    "moderation:configure": "set the automatic review rules and the clean-up schedule",
    # --- orders -------------------------------------------------------------------------
    "orders:place": "place, pay for, change and cancel one's own orders",
    "orders:read": "see orders, their history and their change requests",
    "orders:manage": "assign, fulfil, change and cancel orders and decide change requests",
    "orders:refund": "refund orders (never more than was captured)",
    "disputes:read": "see transaction disputes and their handling",
    "disputes:manage": "handle transaction disputes and record their outcome",
    # --- finance ------------------------------------------------------------------------
    "finance:read": "see the ledger, balances, revenue, invoices and collections",
    "finance:manage": "invoice fees, chase collections and post correcting entries",
    "payouts:read": "see payouts owed and paid to merchants",
    "payouts:manage": "prepare payouts to merchants",
    "payouts:approve": "approve payouts prepared for merchants",
    "budgets:read": "see budgets and spending against them",
    "budgets:manage": "draft and revise budgets per department and period",
    "expenses:manage": "record expenses and reimbursement claims with their vouchers",
    # --- customer service ---------------------------------------------------------------
    "support:submit": "open inquiries, complaints and suggestions and follow one's own",
    "support:read": "see inquiries, complaints and suggestions and their handling",
    "support:manage": "accept, investigate, resolve, route and close service tickets",
    "support:supervise": "reassign tickets and see response times and agent performance",
    "knowledge_base:manage": "write and edit the knowledge base of questions and answers",
    # --- risk and security --------------------------------------------------------------
    "risk:read": "see the risk register, alerts and merchant credit ratings",
    "risk:manage": "register and assess risks, handle alerts and rate merchants' credit",
    "risk:configure": "set fraud rules and alert thresholds",
    # --- operations ---------------------------------------------------------------------
    "tasks:read": "see work plans and tasks",
    "tasks:manage": "create work plans, assign tasks with owners and deadlines",
    "approvals:read": "see approval requests and their history",
    "approvals:submit": "submit requests for approval and follow one's own",
    "approvals:decide": "approve or send back requests (projects, plans, budgets, expenses)",
    "campaigns:read": "see campaigns, their plans and live metrics",
    "campaigns:manage": "propose, prepare, run and report on campaigns",
    "promotions:read": "see promotions and coupons",
    "promotions:manage": "create and change promotions and coupons",
    "quality:read": "see quality standards, inspections and the issue log",
    "quality:inspect": "record inspections and log quality issues",
    "quality:manage": "set quality standards and close logged issues",
    # --- data and analytics -------------------------------------------------------------
    "analytics:read": "see metrics and reports",
    "analytics:export": "export report data",
}

# What a periodic access review lists as privileged: permissions that change who may do
# what, reach everyone's data, or move money out.
PRIVILEGED: frozenset[str] = frozenset(
    {
        "settings:manage",
        "backups:create",
        "users:manage",
        "personal_data:read",
        "identity:configure",
        "roles:manage",
        "roles:assign",
        "access_reviews:decide",
        "oauth_clients:manage",
        "merchants:configure",
        "finance:manage",
        "payouts:approve",
        "risk:configure",
        "moderation:configure",
    }
)

# What a customer does with their own records: holding only these is not staff access.
SELF_SERVICE: frozenset[str] = frozenset(
    {"orders:place", "content:post", "support:submit", "member_content:read"}
)

# OpenID Connect's scopes, which name no permission.
NON_PERMISSION_SCOPES: frozenset[str] = frozenset({"openid", "profile", "email", "offline_access"})

RESOURCES: frozenset[str] = frozenset(p.partition(":")[0] for p in PERMISSIONS)
ALL = "*"


class UnknownScope(ValueError):
    """Scopes (or role permissions) that name nothing in the catalog."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(f"unknown scope(s): {', '.join(unknown)}")
        self.unknown = unknown


def is_pattern(scope: str) -> bool:
    return scope == ALL or (scope.endswith(":*") and scope[:-2] in RESOURCES)


def is_permission_scope(scope: str) -> bool:
    """A permission or a pattern of them."""
    return scope in PERMISSIONS or is_pattern(scope)


def is_known_scope(scope: str) -> bool:
    return is_permission_scope(scope) or scope in NON_PERMISSION_SCOPES


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes the catalog does not know, in the order given, each once."""
    return list(dict.fromkeys(s for s in scopes if not is_known_scope(s)))


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes, when every one is known; otherwise ``UnknownScope`` naming the others."""
    scopes = list(scopes)
    unknown = unknown_scopes(scopes)
    if unknown:
        raise UnknownScope(unknown)
    return frozenset(scopes)


def covers(pattern: str, permission: str) -> bool:
    if pattern in (ALL, permission):
        return True
    return pattern.endswith(":*") and permission.startswith(pattern[:-1])


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """Every catalog permission some scope covers; unknown and OpenID scopes cover none."""
    patterns = {s for s in scopes if is_permission_scope(s)}
    if ALL in patterns:
        return frozenset(PERMISSIONS)
    return frozenset(p for p in PERMISSIONS if any(covers(s, p) for s in patterns))


def permission_table() -> str:
    """The README's table of every permission, generated here so the two never differ."""
    rows = [f"| `{name}` | {what} |" for name, what in sorted(PERMISSIONS.items())]
    return "\n".join(["| permission | what it allows |", "|---|---|", *rows])
