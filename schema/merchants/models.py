"""Tortoise models of the merchants domain (tenant app).

Amounts are integer minor units with an ISO 4217 currency. Who did something is kept as
the principal's subject (``user:12``, ``client:abc``, ``job:merchants.screen``) next to
the user id where a person is meant, so the history reads the same whoever acted.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from schema.files.models import StoredFile
from schema.merchants.status import MerchantStatus


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"
    REPRESENTATIVE_IDENTITY = "representative_identity"  # the legal representative's ID
    BANK_ACCOUNT_PROOF = "bank_account_proof"
    SECTOR_PERMIT = "sector_permit"  # a permit the business's sector needs
    TAX_REGISTRATION = "tax_registration"
    OTHER = "other"


class MerchantField(StrEnum):
    """The application fields onboarding standards may require (``required_fields``).
    Each is the ``Merchant`` column of that name, but ``bank_details`` (sealed)."""

    BUSINESS_NAME = "business_name"
    LEGAL_NAME = "legal_name"
    REGISTRATION_NUMBER = "registration_number"
    CATEGORY = "category"
    DESCRIPTION = "description"
    WEBSITE = "website"
    CONTACT_NAME = "contact_name"
    CONTACT_EMAIL = "contact_email"
    CONTACT_PHONE = "contact_phone"
    ADDRESS_LINE1 = "address_line1"
    ADDRESS_LINE2 = "address_line2"
    CITY = "city"
    REGION = "region"
    POSTAL_CODE = "postal_code"
    COUNTRY = "country"
    BANK_DETAILS = "bank_details"


class OnboardingStandard(Model):
    """One version of the tenant's onboarding standards. Versions are never edited: a
    change writes the next version, and each application records the version it was
    submitted under. The highest version is current (migration seeds version 1).

    ``required_fields`` names application fields (``MerchantField``) that must be filled;
    ``documents`` is a list of ``{"kind", "required", "expires"}`` (``expires``: the
    document must carry an expiry date, checked to be in the future); ``accepted_types``
    media types (``application/pdf``...); ``restricted_categories`` categories whose
    applications get at least MEDIUM risk.
    """

    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    required_fields: list[str] = fields.JSONField(default=list)
    documents: list[dict[str, object]] = fields.JSONField(default=list)
    accepted_types: list[str] = fields.JSONField(default=list)
    max_file_bytes = fields.IntField()
    categories: list[str] = fields.JSONField(default=list)  # empty: any category
    restricted_categories: list[str] = fields.JSONField(default=list)
    registration_number_pattern = fields.CharField(max_length=200)  # a regular expression
    fee_amount = fields.BigIntField(null=True)  # minor units; None: no onboarding fee
    fee_currency = fields.CharField(max_length=3, null=True)
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=200)
    reason = fields.CharField(max_length=1000, null=True)

    class Meta:
        app = "tenant"
        table = "merchant_onboarding_standard"


class MerchantAgreement(Model):
    """A version of the tenant's cooperation agreement. The most recently published is
    current. With ``reacceptance_deadline``, merchants that accepted an older version
    must accept this one by then, or lose their trading capabilities until they do."""

    id = fields.IntField(primary_key=True)
    version = fields.CharField(max_length=50, unique=True)  # the tenant's label: "2026-11"
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    body_sha256 = fields.CharField(max_length=64)  # what exactly was accepted
    published_at = fields.DatetimeField()
    published_by = fields.CharField(max_length=200)
    reacceptance_deadline = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant_agreement"


class Merchant(Model):
    """The application and, once approved, the merchant.

    ``version`` is bumped by every change: updates compare-and-swap on it, so two
    concurrent changes cannot both apply. Bank details are sealed (AES-GCM under the
    platform secret, bound to tenant and merchant); only the last four characters of the
    account number are stored in clear, for display.
    """

    id = fields.IntField(primary_key=True)
    status = fields.CharEnumField(MerchantStatus, max_length=20, default=MerchantStatus.DRAFT)
    version = fields.IntField(default=1)
    owner_user_id = fields.IntField()  # the applicant, later the merchant's owner
    # Business details
    business_name = fields.CharField(max_length=200)
    legal_name = fields.CharField(max_length=200, null=True)
    registration_number = fields.CharField(max_length=64, null=True)  # normalized
    category = fields.CharField(max_length=100, null=True)
    description = fields.TextField(null=True)  # public
    website = fields.CharField(max_length=300, null=True)
    contact_name = fields.CharField(max_length=200, null=True)
    contact_email = fields.CharField(max_length=254, null=True)
    contact_phone = fields.CharField(max_length=20, null=True)  # E.164
    address_line1 = fields.CharField(max_length=200, null=True)
    address_line2 = fields.CharField(max_length=200, null=True)
    city = fields.CharField(max_length=100, null=True)
    region = fields.CharField(max_length=100, null=True)
    postal_code = fields.CharField(max_length=20, null=True)
    country = fields.CharField(max_length=2, null=True)  # ISO 3166-1 alpha-2
    bank_details_sealed = fields.TextField(null=True)
    bank_account_last4 = fields.CharField(max_length=4, null=True)
    logo_file_id = fields.IntField(null=True)  # a public StoredFile
    # Review
    standard_version = fields.IntField(null=True)  # the standards it was submitted under
    submission_count = fields.IntField(default=0)  # which submission the findings are of
    risk_level = fields.CharEnumField(RiskLevel, max_length=10, null=True)
    requested_items: list[dict[str, str]] = fields.JSONField(default=list)  # open requests
    claimed_by_user_id = fields.IntField(null=True)
    claim_expires_at = fields.DatetimeField(null=True)
    fee_paid_at = fields.DatetimeField(null=True)
    fee_reference = fields.CharField(max_length=200, null=True)
    accepted_agreement_id = fields.IntField(null=True)  # the latest version accepted
    # Times
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    submitted_at = fields.DatetimeField(null=True)  # the latest submission: queue order
    decided_at = fields.DatetimeField(null=True)
    activated_at = fields.DatetimeField(null=True)
    status_changed_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant"


class MerchantEvent(Model):
    """The merchant's history: one row per change of status (and other decisions, such
    as a claim or a document added after approval), with who, when and why."""

    id = fields.BigIntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="events", on_delete=fields.CASCADE
    )
    merchant_id: int
    action = fields.CharField(max_length=40)  # an ``Action``, or another decision's name
    from_status = fields.CharField(max_length=20, null=True)
    to_status = fields.CharField(max_length=20, null=True)
    actor = fields.CharField(max_length=200)  # principal subject
    actor_user_id = fields.IntField(null=True)
    reason = fields.TextField(null=True)
    details: dict[str, object] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        app = "tenant"
        table = "merchant_event"


class MerchantDocument(Model):
    """A supporting document: its kind, its file and, for documents that expire, until
    when it is valid. Replacing a document keeps the old row (``replaced_at``)."""

    id = fields.IntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="documents", on_delete=fields.CASCADE
    )
    merchant_id: int
    kind = fields.CharEnumField(DocumentKind, max_length=32)
    file: fields.ForeignKeyRelation[StoredFile] = fields.ForeignKeyField(
        "tenant.StoredFile", related_name=False, on_delete=fields.RESTRICT
    )
    file_id: int
    filename = fields.CharField(max_length=255)
    media_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    expires_on = fields.DateField(null=True)
    uploaded_by = fields.CharField(max_length=200)
    uploaded_at = fields.DatetimeField()
    replaced_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant_document"


class ScreeningFinding(Model):
    """One check of the automated review of one submission, pass or fail, with what it
    found. Unique per (merchant, submission, check): a retried review rewrites its own
    findings instead of adding to them."""

    id = fields.IntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="findings", on_delete=fields.CASCADE
    )
    merchant_id: int
    submission = fields.IntField()
    check_name = fields.CharField(max_length=50)
    passed = fields.BooleanField()
    # What a failure means (``service.screening.Severity``): ``return`` (the applicant
    # must fix it), ``high`` or ``medium`` (the risk level a reviewer sees).
    severity = fields.CharField(max_length=10)
    evidence: dict[str, object] = fields.JSONField(default=dict)
    checked_at = fields.DatetimeField()

    class Meta:
        app = "tenant"
        table = "merchant_screening_finding"
        unique_together = (("merchant", "submission", "check_name"),)


class WatchListKind(StrEnum):
    NAME = "name"  # business or legal name, compared normalized
    REGISTRATION_NUMBER = "registration_number"
    EMAIL = "email"  # an address, or a domain as ``@example.com``
    PHONE = "phone"


class WatchListEntry(Model):
    """Names, numbers and contacts the tenant wants a person to look at before a
    merchant is admitted (earlier fraud, sanctions lists, ...)."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(WatchListKind, max_length=30)
    value = fields.CharField(max_length=254)  # normalized
    reason = fields.CharField(max_length=1000)
    created_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()

    class Meta:
        app = "tenant"
        table = "merchant_watch_list"
        unique_together = (("kind", "value"),)


class AgreementAcceptance(Model):
    """Who accepted which agreement version for a merchant, when, and from where."""

    id = fields.IntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="acceptances", on_delete=fields.CASCADE
    )
    merchant_id: int
    agreement: fields.ForeignKeyRelation[MerchantAgreement] = fields.ForeignKeyField(
        "tenant.MerchantAgreement", related_name="acceptances", on_delete=fields.RESTRICT
    )
    agreement_id: int
    user_id = fields.IntField()
    accepted_at = fields.DatetimeField()
    source_address = fields.CharField(max_length=64, null=True)

    class Meta:
        app = "tenant"
        table = "merchant_agreement_acceptance"
        unique_together = (("merchant", "agreement"),)


class StaffInvitation(Model):
    """An invitation for someone to work for a merchant, mailed with a single-use token
    (only its SHA-256 is stored). Accepted by a signed-in user with the invited email."""

    id = fields.IntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="invitations", on_delete=fields.CASCADE
    )
    merchant_id: int
    email = fields.CharField(max_length=254)  # lower-cased
    role_key = fields.CharField(max_length=50)
    token_hash = fields.CharField(max_length=64, unique=True)
    invited_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)
    accepted_user_id = fields.IntField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant_staff_invitation"


class SanctionKind(StrEnum):
    WARNING = "warning"
    SUSPENSION = "suspension"
    REMOVAL = "removal"


class SanctionStatus(StrEnum):
    IN_FORCE = "in_force"
    LIFTED = "lifted"  # ended by the tenant (a suspension served, a warning withdrawn)
    OVERTURNED = "overturned"  # an appeal succeeded


class Sanction(Model):
    """A warning, suspension or removal, with its reason and evidence (texts and file
    ids). ``status_before`` is the merchant's status it interrupted, restored when the
    sanction is overturned."""

    id = fields.IntField(primary_key=True)
    merchant: fields.ForeignKeyRelation[Merchant] = fields.ForeignKeyField(
        "tenant.Merchant", related_name="sanctions", on_delete=fields.CASCADE
    )
    merchant_id: int
    kind = fields.CharEnumField(SanctionKind, max_length=20)
    status = fields.CharEnumField(SanctionStatus, max_length=20, default=SanctionStatus.IN_FORCE)
    reason = fields.TextField()
    evidence: list[dict[str, object]] = fields.JSONField(default=list)
    status_before = fields.CharField(max_length=20)
    issued_by = fields.CharField(max_length=200)
    issued_by_user_id = fields.IntField(null=True)
    issued_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    ended_by = fields.CharField(max_length=200, null=True)
    end_reason = fields.TextField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant_sanction"


class AppealDecision(StrEnum):
    UPHELD = "upheld"  # the sanction stands
    OVERTURNED = "overturned"


class Appeal(Model):
    """A merchant's appeal against one sanction: at most one per sanction, decided by a
    reviewer other than the one who issued the sanction."""

    id = fields.IntField(primary_key=True)
    sanction: fields.OneToOneRelation[Sanction] = fields.OneToOneField(
        "tenant.Sanction", related_name="appeal", on_delete=fields.CASCADE
    )
    sanction_id: int
    merchant_id = fields.IntField()
    statement = fields.TextField()
    submitted_by = fields.CharField(max_length=200)
    submitted_by_user_id = fields.IntField(null=True)
    submitted_at = fields.DatetimeField()
    decision = fields.CharEnumField(AppealDecision, max_length=20, null=True)
    decided_by = fields.CharField(max_length=200, null=True)
    decided_by_user_id = fields.IntField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_reason = fields.TextField(null=True)

    class Meta:
        app = "tenant"
        table = "merchant_appeal"
