"""Fixtures of the identity tests: cheap hashing, a tenant with users, the mails asked for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from argon2 import Parameters, Type

from schema.identity import passwords
from schema.identity.messages import render
from schema.identity.service import MAIL_ACTOR
from tenants.outbox import JobOutbox

# The smallest argon2id parameters: the suite tests behaviour, not hashing cost. The
# production parameters are checked on their own (test_passwords.py).
FAST = Parameters(
    type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1, memory_cost=8, parallelism=1
)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    previous = passwords.current_parameters()
    passwords.use_parameters(FAST)
    yield
    passwords.use_parameters(previous)


async def mails() -> list[dict[str, Any]]:
    """The ``mail.send`` jobs enqueued so far in the current tenant, oldest first; each
    is checked to render (its template gets every param it needs)."""
    rows = await JobOutbox.filter(actor=MAIL_ACTOR).order_by("id")
    found = [row.decoded_args() for row in rows]
    for mail in found:
        render(mail["template"], mail["params"])
    return found


async def outbox_count() -> int:
    return await JobOutbox.all().count()


def token_mail(
    to: str,
    template: str,
    full_name: str,
    action: str,
    token: str,
    expires_at: datetime,
    **extra: str,
) -> dict[str, Any]:
    """The exact ``mail.send`` args of a token mail of tenant Acme Ltd (default links)."""
    return {
        "to": to,
        "template": template,
        "params": {
            "tenant": "Acme Ltd",
            "full_name": full_name,
            "token": token,
            "link": f"/t/acme/account/{action}?token={token}",
            "expires_at": expires_at.isoformat(),
            **extra,
        },
    }
