"""A merchant's life as a state machine: which action moves which status where, and
what a merchant may do in each status.

One ``Merchant`` row is both the application and the merchant: an application is a
merchant that has not been approved yet. Every change of status is one of the
``Action``s below, checked against ``TRANSITIONS`` (``service.lifecycle.transition``),
recorded in the merchant's history and the audit trail; nothing writes ``status``
directly. Capabilities are derived from the status, never stored, so they cannot
disagree with it.
"""

from __future__ import annotations

from enum import StrEnum


class MerchantStatus(StrEnum):
    DRAFT = "draft"  # being written by the applicant; not seen by reviewers
    SUBMITTED = "submitted"  # waiting for the automated review
    IN_REVIEW = "in_review"  # passed the automated review; waiting for a reviewer
    NEEDS_INFORMATION = "needs_information"  # sent back to the applicant with a list
    REJECTED = "rejected"  # may be reopened and submitted again
    WITHDRAWN = "withdrawn"  # the applicant gave up; final
    APPROVED = "approved"  # decided; the onboarding fee is due before the agreement
    AGREEMENT_PENDING = "agreement_pending"  # the owner must accept the current agreement
    ACTIVE = "active"
    WARNED = "warned"  # active, with a warning in force
    SUSPENDED = "suspended"  # may not trade until reinstated
    OFFBOARDING = "offboarding"  # being removed: winding down, settling what is owed
    OFFBOARDED = "offboarded"  # final


class Action(StrEnum):
    SUBMIT = "submit"  # applicant: a complete application goes to the automated review
    WITHDRAW = "withdraw"  # applicant
    REOPEN = "reopen"  # applicant: a rejected application becomes a draft again
    SCREEN_PASS = "screen_pass"  # automated review: on to a reviewer, with a risk level
    SCREEN_RETURN = "screen_return"  # automated review: back for information
    APPROVE = "approve"  # reviewer; to APPROVED when a fee is due, else AGREEMENT_PENDING
    REJECT = "reject"  # reviewer, with reasons
    REQUEST_INFORMATION = "request_information"  # reviewer, with the missing items
    RECORD_FEE = "record_fee"  # the onboarding fee was paid (or waived)
    ACCEPT_AGREEMENT = "accept_agreement"  # owner
    REQUIRE_AGREEMENT = "require_agreement"  # system: a re-acceptance deadline passed
    WARN = "warn"  # sanction
    SUSPEND = "suspend"  # sanction
    REMOVE = "remove"  # sanction: offboarding begins
    REINSTATE = "reinstate"  # a suspension or warning lifted, or overturned on appeal
    OFFBOARD_COMPLETE = "offboard_complete"


S = MerchantStatus

# (action, from) -> to: the usual target. ``OTHER_TARGETS`` lists where the same action
# may lead instead, for the service to choose from what it knows.
TRANSITIONS: dict[tuple[Action, MerchantStatus], MerchantStatus] = {
    (Action.SUBMIT, S.DRAFT): S.SUBMITTED,
    (Action.SUBMIT, S.NEEDS_INFORMATION): S.SUBMITTED,
    **{
        (Action.WITHDRAW, s): S.WITHDRAWN
        for s in (S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.NEEDS_INFORMATION)
    },
    (Action.REOPEN, S.REJECTED): S.DRAFT,
    (Action.SCREEN_PASS, S.SUBMITTED): S.IN_REVIEW,
    (Action.SCREEN_RETURN, S.SUBMITTED): S.NEEDS_INFORMATION,
    (Action.APPROVE, S.IN_REVIEW): S.APPROVED,
    (Action.REJECT, S.IN_REVIEW): S.REJECTED,
    (Action.REQUEST_INFORMATION, S.IN_REVIEW): S.NEEDS_INFORMATION,
    (Action.RECORD_FEE, S.APPROVED): S.AGREEMENT_PENDING,
    (Action.ACCEPT_AGREEMENT, S.AGREEMENT_PENDING): S.ACTIVE,
    (Action.REQUIRE_AGREEMENT, S.ACTIVE): S.AGREEMENT_PENDING,
    (Action.REQUIRE_AGREEMENT, S.WARNED): S.AGREEMENT_PENDING,
    (Action.WARN, S.ACTIVE): S.WARNED,
    (Action.WARN, S.WARNED): S.WARNED,  # a further warning
    (Action.SUSPEND, S.ACTIVE): S.SUSPENDED,
    (Action.SUSPEND, S.WARNED): S.SUSPENDED,
    **{
        (Action.REMOVE, s): S.OFFBOARDING
        for s in (S.AGREEMENT_PENDING, S.ACTIVE, S.WARNED, S.SUSPENDED)
    },
    (Action.REINSTATE, S.WARNED): S.ACTIVE,
    (Action.REINSTATE, S.SUSPENDED): S.ACTIVE,
    (Action.REINSTATE, S.OFFBOARDING): S.ACTIVE,  # a removal overturned on appeal
    (Action.OFFBOARD_COMPLETE, S.OFFBOARDING): S.OFFBOARDED,
}


OTHER_TARGETS: dict[tuple[Action, MerchantStatus], frozenset[MerchantStatus]] = {
    # No onboarding fee due: straight on to the agreement.
    (Action.APPROVE, S.IN_REVIEW): frozenset({S.AGREEMENT_PENDING}),
    # A warned merchant made to accept a new agreement version: warned again once it has.
    (Action.ACCEPT_AGREEMENT, S.AGREEMENT_PENDING): frozenset({S.WARNED}),
    # A suspension lifted while a warning is still in force.
    (Action.REINSTATE, S.SUSPENDED): frozenset({S.WARNED}),
    # A removal overturned: back to where it interrupted the merchant.
    (Action.REINSTATE, S.OFFBOARDING): frozenset({S.AGREEMENT_PENDING, S.WARNED, S.SUSPENDED}),
}


def targets(action: Action, current: MerchantStatus) -> frozenset[MerchantStatus]:
    """Where ``action`` may take a merchant in ``current``; empty when not allowed."""
    usual = TRANSITIONS.get((action, current))
    if usual is None:
        return frozenset()
    return OTHER_TARGETS.get((action, current), frozenset()) | {usual}


def allowed_actions(current: MerchantStatus) -> list[Action]:
    """What may happen next (the API shows it, so clients need not copy the table)."""
    return [action for (action, source) in TRANSITIONS if source is current]


class Capability(StrEnum):
    EDIT_APPLICATION = "edit_application"  # change details and documents, then submit
    ACCEPT_AGREEMENT = "accept_agreement"
    PUBLISH_LISTINGS = "publish_listings"
    ACCEPT_ORDERS = "accept_orders"
    RECEIVE_PAYOUTS = "receive_payouts"
    USE_API = "use_api"  # the merchant's own OAuth clients and staff tokens
    PUBLIC_PROFILE = "public_profile"  # shown to the public


_TRADING = {
    Capability.PUBLISH_LISTINGS,
    Capability.ACCEPT_ORDERS,
    Capability.RECEIVE_PAYOUTS,
    Capability.USE_API,
    Capability.PUBLIC_PROFILE,
}

CAPABILITIES: dict[MerchantStatus, frozenset[Capability]] = {
    S.DRAFT: frozenset({Capability.EDIT_APPLICATION}),
    S.NEEDS_INFORMATION: frozenset({Capability.EDIT_APPLICATION}),
    S.AGREEMENT_PENDING: frozenset({Capability.ACCEPT_AGREEMENT, Capability.USE_API}),
    S.ACTIVE: frozenset(_TRADING),
    S.WARNED: frozenset(_TRADING),
    # Suspended: no new business, but money already earned is held, not paid, and staff
    # can still sign in to see their data and appeal.
    S.SUSPENDED: frozenset({Capability.USE_API}),
    # Winding down: what is owed is still paid out.
    S.OFFBOARDING: frozenset({Capability.RECEIVE_PAYOUTS, Capability.USE_API}),
}


def capabilities(status: MerchantStatus) -> frozenset[Capability]:
    return CAPABILITIES.get(status, frozenset())


# Reviewers see an application from submission on; before that it is the applicant's.
REVIEWABLE = frozenset({S.SUBMITTED, S.IN_REVIEW, S.NEEDS_INFORMATION})
# Admitted and not on the way out: the merchant keeps its profile and documents current.
ADMITTED = frozenset({S.APPROVED, S.AGREEMENT_PENDING, S.ACTIVE, S.WARNED, S.SUSPENDED})
# Statuses that hold on to a registration number: another applicant using it is flagged.
HOLDS_REGISTRATION = frozenset(set(S) - {S.DRAFT, S.WITHDRAWN, S.REJECTED})


def transition_table() -> str:
    """The state machine as a Markdown table (the README's copy is checked against it)."""
    rows = ["| status | next: action → status | the merchant may |", "|---|---|---|"]
    for status in MerchantStatus:
        steps = [
            f"`{action}` → " + " or ".join(f"`{s}`" for s in sorted(targets(action, status)))
            for action in allowed_actions(status)
        ]
        may = ", ".join(sorted(capabilities(status))) or "—"
        rows.append(f"| `{status}` | {'<br>'.join(steps) or 'final'} | {may} |")
    return "\n".join(rows)
