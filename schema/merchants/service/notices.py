"""Telling a merchant's owner about a decision on it: a mail through the outbox, in the
caller's transaction, so it goes out exactly when the decision commits. Every template
gets ``business_name`` besides what ``send_mail`` adds (``tenant``, ``full_name``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schema.identity.models import User
from schema.identity.service.mail import send_mail
from schema.merchants.models import Merchant


async def mail_owner(merchant: Merchant, template: str, **params: Any) -> None:
    await mail_owners([merchant], template, **params)


async def mail_owners(merchants: Sequence[Merchant], template: str, **params: Any) -> None:
    """The same mail to the owner of each of ``merchants`` (their users read at once)."""
    owners = {u.id: u for u in await User.filter(id__in={m.owner_user_id for m in merchants})}
    for merchant in merchants:
        owner = owners[merchant.owner_user_id]
        await send_mail(owner, template, business_name=merchant.business_name, **params)
