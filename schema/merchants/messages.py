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
}


def bullet_list(lines: Iterable[str]) -> str:
    """``reasons`` as the mails show them."""
    return "\n".join(f"- {line}" for line in lines)


def items_text(items: Iterable[Mapping[str, str]]) -> str:
    """Requested items (``{"item", "message"}``) as the mails show them."""
    return bullet_list(f"{item['message']} ({item['item']})" for item in items)


register_templates(TEMPLATES)
