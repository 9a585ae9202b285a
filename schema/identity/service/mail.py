"""Asking for mails: the tenant job ``mail.send`` through the outbox, in the caller's
transaction, so a mail goes out exactly when its change commits.

Args: ``{"to": <email>, "template": <name>, "params": {...}}``; ``params`` always holds
``tenant`` (the tenant's display name) and ``full_name``. ``schema.identity.messages``
renders them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schema.identity.models import TokenPurpose, User
from schema.identity.policy import get_policy
from schema.identity.service import tokens
from schema.settings.service import get_settings
from tenants.outbox import enqueue
from tenants.scope import current_tenant

MAIL_ACTOR = "mail.send"


async def send_mail(user: User, template: str, *, to: str | None = None, **params: Any) -> None:
    """Enqueue ``template`` for ``user`` (at ``to`` instead of their address, if given)."""
    await send_mail_to(to or user.email, user.full_name, template, **params)


async def send_mail_to(to: str, full_name: str, template: str, **params: Any) -> None:
    """Enqueue ``template`` for an address that may have no account yet (an invitation)."""
    settings = await get_settings()
    await enqueue(
        MAIL_ACTOR,
        {
            "to": to,
            "template": template,
            "params": {"tenant": settings.name, "full_name": full_name, **params},
        },
    )


async def account_link(action: str, token: str) -> str:
    """Where a mailed link points: the tenant's front end (``link_base_url``) when set,
    else the tenant-relative ``/t/<slug>/account/<action>``."""
    base = (await get_policy()).link_base_url or f"/t/{current_tenant().slug}/account"
    return f"{base}/{action}?token={token}"


async def send_token_mail(
    user: User,
    template: str,
    purpose: TokenPurpose,
    action: str,
    *,
    to: str | None = None,
    new_email: str | None = None,
    lifetime: timedelta | None = None,
    **params: Any,
) -> None:
    """Issue a token of ``purpose`` (for a change of email: to ``new_email``) and mail
    its link (``<base>/<action>?token=...``)."""
    issued = await tokens.issue(user, purpose, new_email=new_email, lifetime=lifetime)
    if new_email is not None:
        params["new_email"] = new_email
    await send_mail(
        user,
        template,
        to=to,
        token=issued.token,
        link=await account_link(action, issued.token),
        expires_at=issued.expires_at.isoformat(),
        **params,
    )
