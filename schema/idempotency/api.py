"""Idempotency keys for mutations: the same key and input replay the first result, the
same key with other input is refused (``schema.idempotency.service`` has the rules).

A creating or money-moving mutation takes an optional ``idempotencyKey: String``,
splices ``CODES`` into its code enum, and runs its service call through ``idempotent``
instead of ``MutationTypes.run``::

    USER_CREATE = mutation_types("userCreate", (..., *CODES), user=UserNode)

    async def user_create(self, info, input: UserCreateInput,
                          idempotency_key: IdempotencyKeyArgument = None) -> USER_CREATE.payload:
        return await idempotent(
            info, USER_CREATE, idempotency_key, input,
            lambda: service.create_user(...),  # started only when this request does the work
            _user_result,  # the value to the payload's fields, as for run()
            rows_of(User),  # how a replay finds the value again
        )

Without a key it is exactly ``types.run(call(), result)``. With one, the call runs in a
transaction that also marks the key done, so the change and the key commit together
(the service's own transactions become savepoints of it; on SQLite the tenant's store
is held for the whole call, so keep slow work out of idempotent calls where you can).

A replay stores no payload: it keeps a reference to the result (``Replay.reference``,
typically the created row's id) and loads it again (``Replay.load``), then builds the
payload with the same ``result`` function. So a replay shows the object as it is now,
with the selection the client asks for now, and never keeps what must be shown once
(a client secret is null in a replay). A replay is audited as such (``replayed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from tortoise.models import Model
from tortoise.transactions import in_transaction

from schema.audit.api import targets_in
from schema.audit.service import record
from schema.core.mutations import MutationTypes
from schema.core.permissions import principal_of
from schema.idempotency import service
from schema.idempotency.service import CODES
from tenants.backends import TENANT_ALIAS

__all__ = ["CODES", "IdempotencyKeyArgument", "Replay", "idempotent", "rows_of"]

Value = TypeVar("Value")
Row = TypeVar("Row", bound=Model)

# The argument every idempotent mutation takes, described once.
IdempotencyKeyArgument = Annotated[
    str | None,
    strawberry.argument(
        description="Your key for this request (1-200 printable ASCII characters, kept "
        "24 hours): sent again with the same input it returns the first result instead "
        "of doing it twice; with other input it is refused (IDEMPOTENCY_KEY_REUSED)."
    ),
]


@dataclass(frozen=True, slots=True)
class Replay(Generic[Value]):
    """How a mutation's result is found again: ``reference`` names it (JSON-able, kept
    with the key), ``load`` gets it back by that name."""

    reference: Callable[[Value], Any]
    load: Callable[[Any], Awaitable[Value]]


def rows_of(model: type[Row]) -> Replay[Row]:
    """The common case: the call returns a row of ``model``, kept as its primary key."""

    async def load(pk: Any) -> Row:
        return await model.get(pk=pk)

    return Replay(lambda row: row.pk, load)


async def idempotent(
    info: strawberry.Info,
    types: MutationTypes,
    key: str | None,
    request: Any,
    call: Callable[[], Awaitable[Value]],
    result: Callable[[Value], Awaitable[dict[str, Any]]],
    replay: Replay[Value],
) -> Any:
    """The payload of mutation ``types`` (named as the field being resolved) for the
    principal's ``key`` and ``request`` (its input, hashed): ``call``'s result the first
    time, the same result again for the same input, IDEMPOTENCY_KEY_REUSED for other
    input, IDEMPOTENCY_KEY_IN_USE while the first request is at work."""
    if key is None:
        return await types.run(call(), result)
    operation = info.field_name
    subject = principal_of(info.context).subject
    replayed = False

    async def once() -> Value:
        nonlocal replayed
        claim = await service.claim(subject, operation, key, service.request_hash(request))
        if claim.done:
            replayed = True
            return await replay.load(claim.reference)
        try:
            async with in_transaction(TENANT_ALIAS):
                value = await call()
                await service.complete(claim, replay.reference(value))
        except BaseException:
            await service.release(claim)
            raise
        return value

    payload = await types.run(once(), result)
    if replayed:
        await record(operation, targets=list(targets_in(payload)), summary={"replayed": True})
    return payload
