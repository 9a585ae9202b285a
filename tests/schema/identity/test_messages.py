"""Rendering the identity mails."""

from __future__ import annotations

import pytest

from schema.identity.messages import TEMPLATES, MessageError, RenderedMessage, render
from schema.merchants.messages import TEMPLATES as MERCHANT_TEMPLATES

TOKEN_PARAMS = {
    "tenant": "Acme Ltd",
    "full_name": "Alice Smith",
    "token": "tok123",
    "link": "https://shop.acme.example/account/reset-password?token=tok123",
    "expires_at": "2026-11-24T15:04:05.123456+00:00",
}


def test_password_reset() -> None:
    message = render("password_reset", TOKEN_PARAMS)
    assert message == RenderedMessage(
        subject="Reset your Acme Ltd password",
        text="Hello Alice Smith,\n\n"
        "someone asked to reset the password of your Acme Ltd account. To choose a new "
        "password, open this link:\n\n"
        "https://shop.acme.example/account/reset-password?token=tok123\n\n"
        "or enter this code: tok123\n\n"
        "The link works once, until 2026-11-24 15:04 UTC. If you did not ask for this, you "
        "can ignore this message.\n\n-- \nAcme Ltd\n",
    )


@pytest.mark.parametrize(
    ("template", "extra"),
    [
        ("verify_email", {}),
        ("password_reset", {}),
        ("set_password", {}),
        ("email_change_verify", {"new_email": "new@example.com"}),
    ],
)
def test_every_token_mail_has_the_tenant_link_and_token(
    template: str, extra: dict[str, str]
) -> None:
    message = render(template, {**TOKEN_PARAMS, **extra})
    assert "Acme Ltd" in message.subject
    assert TOKEN_PARAMS["link"] in message.text
    assert "code: tok123" in message.text
    assert "2026-11-24 15:04 UTC" in message.text
    assert message.text.startswith("Hello Alice Smith,")


def test_notices() -> None:
    changed = render(
        "email_changed",
        {"tenant": "Acme", "full_name": "Al", "old_email": "a@x.io", "new_email": "b@x.io"},
    )
    assert changed.subject == "The email address of your Acme account was changed"
    assert "from a@x.io to b@x.io" in changed.text
    locked = render("account_locked", {"tenant": "Acme", "full_name": "Al", "failures": 20})
    assert locked.subject == "Your Acme account was locked"
    assert "after 20 failed sign-in attempts in a row" in locked.text


def test_expiry_is_shown_in_utc() -> None:
    message = render("verify_email", {**TOKEN_PARAMS, "expires_at": "2026-11-24T17:00:00+02:00"})
    assert "until 2026-11-24 15:00 UTC" in message.text


def test_a_line_break_in_the_tenant_name_stays_out_of_the_subject() -> None:
    message = render("password_reset", {**TOKEN_PARAMS, "tenant": "Acme\r\nBcc: evil@x.io"})
    assert message.subject == "Reset your Acme Bcc: evil@x.io password"


def test_unknown_template() -> None:
    with pytest.raises(MessageError, match="unknown mail template 'welcome'"):
        render("welcome", TOKEN_PARAMS)


def test_missing_param() -> None:
    with pytest.raises(MessageError, match="template 'email_changed' needs the param 'old_email'"):
        render("email_changed", {"tenant": "Acme", "full_name": "Al", "new_email": "b@x.io"})


def test_braces_in_values_are_not_interpreted() -> None:
    message = render("account_locked", {"tenant": "{full_name}", "full_name": "Al", "failures": 3})
    assert message.subject == "Your {full_name} account was locked"


def test_templates() -> None:
    # Other domains register theirs too (the merchants' when their package is imported).
    assert sorted(TEMPLATES.keys() - MERCHANT_TEMPLATES.keys()) == [
        "account_locked",
        "email_change_verify",
        "email_changed",
        "password_reset",
        "set_password",
        "verify_email",
    ]
