"""Recording and verifying the audit trail.

CONTRACT (filled in by the audit work): ``record()`` appends one record to the current
tenant's chain, inside the caller's transaction when there is one, so a change and its
record commit together. Who acts comes from ``acting_as()``, set by the edge (GraphQL
request, OAuth endpoint) or by a job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from schema.core.principal import Principal, system_principal


@dataclass(frozen=True, slots=True)
class Acting:
    """Who is acting, from where, in which request."""

    principal: Principal
    source_address: str | None = None
    request_id: str | None = None


_acting: ContextVar[Acting | None] = ContextVar("acting", default=None)
_UNKNOWN = Acting(system_principal("unknown"))


def current_acting() -> Acting:
    return _acting.get() or _UNKNOWN


@contextlib.contextmanager
def acting_as(acting: Acting) -> Iterator[Acting]:
    token = _acting.set(acting)
    try:
        yield acting
    finally:
        _acting.reset(token)


async def record(
    operation: str,
    *,
    targets: Sequence[str] = (),
    outcome: str = "success",
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Append a record: ``operation`` (``userRegister``, ``signIn``, ``tokenIssue``...),
    the ids it touched (``User:12``), ``success`` or a failure code, what changed."""
    # The audit work fills this in; until then nothing is recorded.
