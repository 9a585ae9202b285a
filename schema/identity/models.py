from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UserType(StrEnum):
    USER = "user"
    MEMBER = "member"  # paid or upgraded
    MERCHANT_STAFF = "merchant_staff"
    TENANT_STAFF = "tenant_staff"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"  # by an administrator; cannot sign in


class IdentityStatus(StrEnum):
    """Where the user's identity verification stands (documents checked by a reviewer)."""

    UNVERIFIED = "unverified"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # also "set your password" for users made without one
    CHANGE_EMAIL = "change_email"


class DocumentKind(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"
    BUSINESS_REGISTRATION = "business_registration"
    QUALIFICATION = "qualification"  # a professional or trade qualification
    OTHER = "other"


class User(Model):
    """A person of one tenant. ``email`` is stored lower-cased (unique per tenant).

    ``password_hash`` is None for a user created without a password (they get a "set
    your password" mail) and such a user cannot sign in. ``failed_sign_ins`` counts
    consecutive failed sign-ins (reset by a success or an unlock); ``locked_at`` is set
    once they reach the tenant's lock-out threshold, and only an administrator clears it.
    """

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    email_verified_at = fields.DatetimeField(null=True)
    phone = fields.CharField(max_length=20, null=True)  # E.164
    password_hash = fields.CharField(max_length=200, null=True)
    # When the password last changed: sessions and refresh tokens issued before it may be
    # revoked by the session layer.
    password_changed_at = fields.DatetimeField(null=True)
    full_name = fields.CharField(max_length=200)
    user_type = fields.CharEnumField(UserType, max_length=20, default=UserType.USER)
    status = fields.CharEnumField(UserStatus, max_length=20, default=UserStatus.ACTIVE)
    # The last deactivation or reactivation: why, when, by whom (``user:12``).
    status_reason = fields.CharField(max_length=1000, null=True)
    status_changed_at = fields.DatetimeField(null=True)
    status_changed_by = fields.CharField(max_length=200, null=True)
    merchant_id = fields.IntField(null=True)  # merchant staff: the merchant they work for
    identity_status = fields.CharEnumField(
        IdentityStatus, max_length=20, default=IdentityStatus.UNVERIFIED
    )
    failed_sign_ins = fields.IntField(default=0)
    last_failed_sign_in_at = fields.DatetimeField(null=True)
    locked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "users"  # "user" is reserved in PostgreSQL


class IdentityPolicy(Model):
    """The tenant's rules for registration, sign-in and passwords: one row (id 1), made
    by the migration with the platform defaults; a tenant may only tighten the password
    rules (``schema.identity.policy`` checks the bounds)."""

    id = fields.IntField(primary_key=True)
    registration_open = fields.BooleanField(default=True)
    phone_required = fields.BooleanField(default=False)
    email_verification_required = fields.BooleanField(default=False)  # to sign in
    password_min_length = fields.IntField(default=8)
    password_require_lowercase = fields.BooleanField(default=False)
    password_require_uppercase = fields.BooleanField(default=False)
    password_require_digit = fields.BooleanField(default=False)
    password_require_symbol = fields.BooleanField(default=False)
    # Consecutive failed sign-ins after which each attempt waits longer, and at which
    # the account is locked until an administrator unlocks it.
    throttle_after_failures = fields.IntField(default=5)
    lockout_after_failures = fields.IntField(default=20)
    # Where links in mails point: the tenant's own front end, when it has one.
    link_base_url = fields.CharField(max_length=300, null=True)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)
    updated_by = fields.CharField(max_length=200, null=True)

    class Meta:
        app = "tenant"
        table = "identity_policy"


class SignInAttempt(Model):
    """Every sign-in attempt, successful or not: the trail behind the throttles."""

    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=254)  # as tried (normalized, cut to 254)
    user_id = fields.IntField(null=True)  # when the email belongs to a user
    source_address = fields.CharField(max_length=64, null=True)
    outcome = fields.CharField(max_length=32)  # SUCCESS or a SignInCode
    attempted_at = fields.DatetimeField()

    class Meta:
        app = "tenant"
        table = "sign_in_attempt"


class UserToken(Model):
    """A single-use, expiring token mailed to a user. Only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "tenant.User", related_name="tokens", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(TokenPurpose, max_length=20)
    token_hash = fields.CharField(max_length=64, unique=True)
    new_email = fields.CharField(max_length=254, null=True)  # change_email: the new address
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "user_token"


class IdentityVerification(Model):
    """One submission of identity documents and the reviewer's decision on it."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "tenant.User", related_name="identity_verifications", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(IdentityStatus, max_length=20)  # submitted, verified, rejected
    submitted_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.CharField(max_length=200, null=True)  # ``user:7``
    reason = fields.CharField(max_length=1000, null=True)

    documents: fields.ReverseRelation[IdentityDocument]

    class Meta:
        app = "tenant"
        table = "identity_verification"


class IdentityDocument(Model):
    """A document as the user submitted it: its kind, its number and where the file is."""

    id = fields.IntField(primary_key=True)
    verification: fields.ForeignKeyRelation[IdentityVerification] = fields.ForeignKeyField(
        "tenant.IdentityVerification", related_name="documents", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(DocumentKind, max_length=32)
    reference = fields.CharField(max_length=100)
    file_reference = fields.CharField(max_length=500)

    class Meta:
        app = "tenant"
        table = "identity_document"
