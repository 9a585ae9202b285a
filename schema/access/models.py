from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from schema.access.templates import MerchantScope
from schema.identity.models import User


class Role(Model):
    """A named set of permissions of the tenant. ``template`` roles are the platform's
    ready-made ones (read-only in the tenant); the others are the tenant's own."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=50, unique=True)  # immutable: how APIs name it
    name = fields.CharField(max_length=200)
    description = fields.TextField()
    template = fields.BooleanField(default=False)
    merchant_scope = fields.CharEnumField(
        MerchantScope, max_length=10, default=MerchantScope.OPTIONAL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "tenant"
        table = "access_role"


class RolePermission(Model):
    """One permission (or pattern such as ``orders:*``) a role grants."""

    id = fields.IntField(primary_key=True)
    role: fields.ForeignKeyRelation[Role] = fields.ForeignKeyField(
        "tenant.Role", related_name="permissions", on_delete=fields.CASCADE
    )
    role_id: int
    permission = fields.CharField(max_length=100)

    class Meta:
        app = "tenant"
        table = "access_role_permission"
        unique_together = (("role", "permission"),)


class RoleAssignment(Model):
    """A user holds a role, for the whole tenant or (``merchant_id``) for one merchant.
    Unique per (user, role, merchant) through an index on ``COALESCE(merchant_id, 0)``
    that the migration creates (NULLs are distinct in a plain unique index)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "tenant.User", related_name=False, on_delete=fields.CASCADE
    )
    role: fields.ForeignKeyRelation[Role] = fields.ForeignKeyField(
        "tenant.Role", related_name="assignments", on_delete=fields.RESTRICT
    )
    user_id: int
    role_id: int
    merchant_id = fields.IntField(null=True)
    granted_by = fields.CharField(max_length=200)  # Principal.subject: user:12, system:cli
    granted_at = fields.DatetimeField(auto_now_add=True)
    reason = fields.TextField(null=True)

    class Meta:
        app = "tenant"
        table = "access_role_assignment"


class ChangeAction(StrEnum):
    ROLE_CREATED = "role_created"
    ROLE_UPDATED = "role_updated"
    ROLE_DELETED = "role_deleted"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_UNASSIGNED = "role_unassigned"


class AccessChange(Model):
    """The log of every change to roles and assignments: who, when, why, what."""

    id = fields.IntField(primary_key=True)
    action = fields.CharEnumField(ChangeAction, max_length=20)
    role_key = fields.CharField(max_length=50)
    user_id = fields.IntField(null=True)  # assignments: whose
    merchant_id = fields.IntField(null=True)
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(null=True)
    detail = fields.JSONField(null=True)  # e.g. the permissions added and removed
    changed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "tenant"
        table = "access_change"


class ReviewStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # every item decided


class AccessReview(Model):
    """One periodic review; ``period`` (the scheduler's slot date) makes opening it
    idempotent. The thresholds it used are kept with it."""

    id = fields.IntField(primary_key=True)
    period = fields.CharField(max_length=40, unique=True)
    status = fields.CharEnumField(ReviewStatus, max_length=10, default=ReviewStatus.OPEN)
    dormant_days = fields.IntField()
    unused_days = fields.IntField()
    opened_by = fields.CharField(max_length=200)
    opened_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "access_review"


class ItemKind(StrEnum):
    DORMANT_ACCOUNT = "dormant_account"  # holds staff access, no sign-in for a while
    PRIVILEGED_ROLE_HOLDER = "privileged_role_holder"  # one assignment of a privileged role
    UNUSED_ROLE = "unused_role"  # no holder, or none who signed in lately


class Decision(StrEnum):
    CONFIRM = "confirm"
    REVOKE = "revoke"


class AccessReviewItem(Model):
    """One finding for a reviewer. Subjects are kept by id and key, not foreign keys: the
    item is a record of what was found, and outlives the role or assignment it names."""

    id = fields.IntField(primary_key=True)
    review: fields.ForeignKeyRelation[AccessReview] = fields.ForeignKeyField(
        "tenant.AccessReview", related_name="items", on_delete=fields.CASCADE
    )
    review_id: int
    kind = fields.CharEnumField(ItemKind, max_length=30)
    user_id = fields.IntField(null=True)
    role_key = fields.CharField(max_length=50, null=True)
    merchant_id = fields.IntField(null=True)
    last_login_at = fields.DatetimeField(null=True)  # what the finding was based on
    detail = fields.JSONField(null=True)  # e.g. the privileged permissions held
    decision = fields.CharEnumField(Decision, max_length=10, null=True)
    decided_by = fields.CharField(max_length=200, null=True)
    decided_at = fields.DatetimeField(null=True)
    reason = fields.TextField(null=True)

    class Meta:
        app = "tenant"
        table = "access_review_item"
