"""The mails the merchants domain sends (``{name: (subject, body)}``), registered with
the mail renderer (``schema.identity.messages``). Every template gets ``tenant`` and
``full_name`` (the recipient's); each lists the other params it needs below."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schema.identity.messages import register_templates

# The review, to the applicant. ``business_name`` in each; ``items``: one line per item
# requested; ``reasons``: one line per reason; ``next_step``: what the owner does now.
INFORMATION_REQUESTED = "merchant_information_requested"
APPROVED = "merchant_approved"
REJECTED = "merchant_rejected"
FEE_RECORDED = "merchant_fee_recorded"

TEMPLATES: dict[str, tuple[str, str]] = {
    INFORMATION_REQUESTED: (
        "{tenant}: your merchant application needs more information",
        "Hello {full_name},\n\n"
        "before your application for {business_name} can go further, please add or "
        "correct the following, then submit it again:\n\n"
        "{items}\n",
    ),
    APPROVED: (
        "{tenant}: your merchant application was approved",
        "Hello {full_name},\n\nyour application for {business_name} was approved. {next_step}\n",
    ),
    REJECTED: (
        "{tenant}: your merchant application was not accepted",
        "Hello {full_name},\n\n"
        "your application for {business_name} was not accepted, for these reasons:\n\n"
        "{reasons}\n\n"
        "You can change the application and submit it again.",
    ),
    FEE_RECORDED: (
        "{tenant}: your onboarding fee was received",
        "Hello {full_name},\n\n"
        "the onboarding fee for {business_name} was recorded. To start trading, accept "
        "the cooperation agreement.",
    ),
    # Agreements. ``version``; ``title`` and ``expires_at`` (the deadline) to re-accept.
    "merchant_agreement_reaccept": (
        "{tenant} has a new merchant agreement: please accept it by {expires}",
        "Hello {full_name},\n\n"
        '{tenant} published version {version} of its merchant agreement, "{title}". '
        "To keep {business_name} trading, please read and accept it by {expires}. After "
        "that date, {business_name} stops trading until the new version is accepted.",
    ),
    "merchant_agreement_required": (
        "{business_name} must accept the {tenant} merchant agreement to trade again",
        "Hello {full_name},\n\n"
        "version {version} of the {tenant} merchant agreement was not accepted for "
        "{business_name} by its deadline, so {business_name} has stopped trading. It "
        "trades again as soon as you accept it.",
    ),
    # Staff. ``role``, ``token``, ``link``, ``expires_at``.
    "merchant_staff_invitation": (
        "You are invited to work for {business_name} at {tenant}",
        "Hello {full_name},\n\n"
        "you are invited to work for {business_name} at {tenant} (role: {role}). To "
        "accept, sign in to {tenant} with this email address and open this link:\n\n"
        "{link}\n\n"
        "or enter this code: {token}\n\n"
        "The link works once, until {expires}. If you do not want to join, ignore "
        "this message.",
    ),
    # Sanctions and appeals. ``sanction`` (warning, suspension, removal), ``reason``;
    # ``decision`` (upheld, overturned) for appeals.
    "merchant_sanctioned": (
        "{tenant}: a {sanction} for {business_name}",
        "Hello {full_name},\n\n"
        "{tenant} issued a {sanction} for {business_name}, for this reason:\n\n"
        "{reason}\n\n"
        "You can see it, and appeal against it once, in your merchant account.",
    ),
    "merchant_sanction_lifted": (
        "{tenant}: the {sanction} for {business_name} was lifted",
        "Hello {full_name},\n\n{tenant} lifted the {sanction} for {business_name}:\n\n{reason}",
    ),
    "merchant_offboarded": (
        "{tenant}: {business_name} has left {tenant}",
        "Hello {full_name},\n\n"
        "the offboarding of {business_name} is complete: it no longer trades at {tenant}.\n\n"
        "{reason}",
    ),
    "merchant_appeal_decided": (
        "{tenant}: your appeal for {business_name} was decided",
        "Hello {full_name},\n\n"
        "your appeal against the {sanction} for {business_name} was decided: the "
        "{sanction} is {decision}.\n\n"
        "{reason}",
    ),
}


def bullet_list(lines: Iterable[str]) -> str:
    """``reasons`` as the mails show them."""
    return "\n".join(f"- {line}" for line in lines)


def items_text(items: Iterable[Mapping[str, str]]) -> str:
    """Requested items (``{"item", "message"}``) as the mails show them."""
    return bullet_list(f"{item['message']} ({item['item']})" for item in items)


register_templates(TEMPLATES)
