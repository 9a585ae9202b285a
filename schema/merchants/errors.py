"""Every code the merchants domain refuses with. Each mutation's enum holds the subset it
can return (``schema.core.mutations``); services raise them in ``DomainError``s."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # Input
    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    # Which record
    NOT_FOUND = "NOT_FOUND"  # or not yours to see
    NOT_OWNER = "NOT_OWNER"  # only the merchant's owner may do this
    NOT_A_USER = "NOT_A_USER"  # a client or system principal where a person must act
    # The state machine
    INVALID_TRANSITION = "INVALID_TRANSITION"  # not allowed from the merchant's status
    CONFLICT = "CONFLICT"  # changed by someone else meanwhile: reload and retry
    # Applications
    INCOMPLETE = "INCOMPLETE"  # submission: an item the standards require is missing
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"
    DOCUMENT_KIND_NOT_ACCEPTED = "DOCUMENT_KIND_NOT_ACCEPTED"
    CATEGORY_NOT_ACCEPTED = "CATEGORY_NOT_ACCEPTED"
    ALREADY_APPLIED = "ALREADY_APPLIED"  # an open application of the same user exists
    # Review
    NOT_CLAIMED = "NOT_CLAIMED"  # decide only what you hold a claim on
    CLAIMED_BY_OTHER = "CLAIMED_BY_OTHER"
    SELF_NOT_ALLOWED = "SELF_NOT_ALLOWED"  # nobody decides their own case
    OWNER_INELIGIBLE = "OWNER_INELIGIBLE"  # approval: the applicant's account is
    # deactivated, or works for another merchant (an account belongs to one merchant)
    # Agreements
    AGREEMENT_NOT_CURRENT = "AGREEMENT_NOT_CURRENT"
    VERSION_TAKEN = "VERSION_TAKEN"
    ALREADY_ACCEPTED = "ALREADY_ACCEPTED"
    # Staff
    TOKEN_INVALID = "TOKEN_INVALID"  # unknown, used, revoked or expired invitation
    EMAIL_MISMATCH = "EMAIL_MISMATCH"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"  # the tenant requires confirmed addresses
    ALREADY_STAFF = "ALREADY_STAFF"  # works for this or another merchant (or the tenant)
    ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"  # not a role a merchant's staff can hold
    ROLE_NOT_FOUND = "ROLE_NOT_FOUND"  # as the access domain says it
    PERMISSION_NOT_HELD = "PERMISSION_NOT_HELD"  # nobody grants what they do not hold
    NOT_PENDING = "NOT_PENDING"  # the invitation was accepted, revoked or has expired
    CANNOT_REMOVE_OWNER = "CANNOT_REMOVE_OWNER"
    MERCHANT_INACTIVE = "MERCHANT_INACTIVE"  # its status does not allow taking on staff
    # Sanctions and appeals
    ALREADY_APPEALED = "ALREADY_APPEALED"
    NOT_IN_FORCE = "NOT_IN_FORCE"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    # Watch list
    ALREADY_LISTED = "ALREADY_LISTED"
