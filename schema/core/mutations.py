"""One builder for a mutation's payload types, so every mutation reads the same way.

``mutation_types("merchantApprove", codes, merchant=MerchantNode)`` makes
``MerchantApproveErrorCode`` (exactly the codes that mutation returns), ``MerchantApproveError``
(``field``: the input path in camelCase, null when the error concerns the whole input;
``message``; ``code``) and ``MerchantApprovePayload`` (``errors`` plus the given fields,
each null unless the mutation succeeded). ``run()`` turns a service call into the
payload: its result's fields, or its ``DomainError`` as typed errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.core.errors import DomainError

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Described:
    """A payload field's type with a description for the schema:
    ``mutation_types(..., client_secret=Described(str, "Shown this once."))``."""

    type: Any
    description: str | None = None


@dataclass(frozen=True, slots=True)
class MutationTypes:
    """A mutation's ``XxxError`` type, its ``XxxErrorCode`` enum and its payload type."""

    error: type
    code: type[Enum]
    payload: type

    def errors(self, exc: DomainError) -> list[Any]:
        return [
            self.error(
                field=[to_camel_case(part) for part in e.field] or None,
                message=e.message,
                code=self.code(e.code),
            )
            for e in exc.errors
        ]

    async def run(
        self,
        call: Awaitable[Result],
        result: Callable[[Result], Awaitable[dict[str, Any]]] | None = None,
    ) -> Any:
        """The payload of ``call``: its result's fields, or its typed errors."""
        try:
            value = await call
        except DomainError as exc:
            return self.payload(errors=self.errors(exc))
        return self.payload(errors=[], **(await result(value) if result else {}))


def mutation_types(
    name: str, codes: Iterable[str], *, type_prefix: str | None = None, **fields: Any
) -> MutationTypes:
    """Types for mutation ``name`` (camelCase, as in the schema) returning ``codes`` and,
    on success, ``fields`` (name to type, or to ``Described``). The types' names start
    with ``type_prefix``, by default ``name`` capitalized: give it where that would mangle
    an acronym (``oauthClientCreate``'s types are ``OAuthClientCreate...``)."""
    title = type_prefix or name[0].upper() + name[1:]
    values = {str(code): str(code) for code in codes}
    code = strawberry.enum(
        Enum(f"{title}ErrorCode", values),  # type: ignore[misc]
        description=f"Why {name} refused its input.",
    )
    error = strawberry.type(
        type(
            f"{title}Error",
            (),
            {"__annotations__": {"field": list[str] | None, "message": str, "code": code}},
        ),
        description=f"Why {name} refused its input: field is the input's path, or null.",
    )
    specs = {f: t if isinstance(t, Described) else Described(t) for f, t in fields.items()}
    payload = strawberry.type(
        type(
            f"{title}Payload",
            (),
            {
                "__annotations__": {
                    "errors": list[error],
                    **{f: spec.type | None for f, spec in specs.items()},
                },
                **{
                    f: strawberry.field(default=None, description=spec.description)
                    for f, spec in specs.items()
                },
            },
        ),
        description=f"What {name} did; errors is empty when it succeeded.",
    )
    return MutationTypes(error, code, payload)
