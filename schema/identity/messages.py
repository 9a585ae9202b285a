"""The mails the identity domain sends, rendered as plain text.

Services enqueue the tenant job ``mail.send`` with ``{"to", "template", "params"}``; the
mail actor calls ``render(template, params)`` and sends the result. Every template gets
``tenant`` (the tenant's display name) and ``full_name``; those with a token
(``verify_email``, ``password_reset``, ``set_password``, ``email_change_verify``) also get
``token``, ``link`` and ``expires_at`` (ISO 8601). Besides: ``email_change_verify`` gets
``new_email``, ``email_changed`` gets ``old_email`` and ``new_email``, ``account_locked``
gets ``failures``.

``link`` is built by the service: the tenant's ``link_base_url`` (identity policy, e.g.
``https://shop.acme.example/account``) followed by the action and the token, or when
the tenant has none, the tenant-relative ``/t/<slug>/account/<action>?token=...``. The
token is in the text too, for apps that ask for it instead of opening a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str


class MessageError(ValueError):
    """An unknown template, or params that lack what the template needs."""


_SIGNATURE = "\n\n-- \n{tenant}\n"
_IGNORE = "If you did not ask for this, you can ignore this message."

TEMPLATES: dict[str, tuple[str, str]] = {
    "verify_email": (
        "Confirm your email address for {tenant}",
        "Hello {full_name},\n\n"
        "please confirm your email address for your {tenant} account by opening this link:\n\n"
        "{link}\n\n"
        "or by entering this code: {token}\n\n"
        "The link works until {expires}. " + _IGNORE,
    ),
    "password_reset": (
        "Reset your {tenant} password",
        "Hello {full_name},\n\n"
        "someone asked to reset the password of your {tenant} account. To choose a new "
        "password, open this link:\n\n"
        "{link}\n\n"
        "or enter this code: {token}\n\n"
        "The link works once, until {expires}. " + _IGNORE,
    ),
    "set_password": (
        "Your {tenant} account is ready: set your password",
        "Hello {full_name},\n\n"
        "an account was created for you at {tenant}. To choose your password, open this "
        "link:\n\n"
        "{link}\n\n"
        "or enter this code: {token}\n\n"
        "The link works once, until {expires}.",
    ),
    "email_change_verify": (
        "Confirm your new email address for {tenant}",
        "Hello {full_name},\n\n"
        "please confirm {new_email} as the new email address of your {tenant} account by "
        "opening this link:\n\n"
        "{link}\n\n"
        "or by entering this code: {token}\n\n"
        "The link works until {expires}. Until then your account keeps its current "
        "address. " + _IGNORE,
    ),
    "email_changed": (
        "The email address of your {tenant} account was changed",
        "Hello {full_name},\n\n"
        "the email address of your {tenant} account was changed from {old_email} to "
        "{new_email}. Mails for the account now go to the new address.\n\n"
        "If you did not make this change, contact {tenant} at once.",
    ),
    "account_locked": (
        "Your {tenant} account was locked",
        "Hello {full_name},\n\n"
        "after {failures} failed sign-in attempts in a row, your {tenant} account was "
        "locked to protect it. An administrator of {tenant} can unlock it.\n\n"
        "If these attempts were not yours, someone may be guessing your password: choose "
        "a new one once the account is unlocked.",
    ),
}


def register_templates(templates: Mapping[str, tuple[str, str]]) -> None:
    """Add another domain's mails (``{name: (subject, body)}``), rendered like these;
    the domain calls it when its messages module is imported."""
    clash = templates.keys() & TEMPLATES.keys()
    if clash:
        raise ValueError(f"mail templates defined twice: {', '.join(sorted(clash))}")
    TEMPLATES.update(templates)


def _human_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(template: str, params: Mapping[str, Any]) -> RenderedMessage:
    try:
        subject, body = TEMPLATES[template]
    except KeyError:
        raise MessageError(f"unknown mail template {template!r}") from None
    values = dict(params)
    if "expires_at" in values:
        values["expires"] = _human_time(values["expires_at"])
    try:
        # One line: a name with a line break must not add mail headers.
        subject = " ".join(subject.format_map(values).split())
        text = (body + _SIGNATURE).format_map(values)
    except KeyError as missing:
        raise MessageError(f"template {template!r} needs the param {missing}") from None
    return RenderedMessage(subject=subject, text=text)
