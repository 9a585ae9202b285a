"""Error conventions.

Expected failures travel in a mutation's payload as ``errors: [XxxError!]!`` with a
``field`` path, a ``message`` and a ``code`` of that mutation's enum. Services raise
``DomainError`` with ``FieldError`` items; the API layer maps the codes. Top-level GraphQL
errors are for unauthenticated, forbidden, throttled, invalid queries and crashes, and
carry ``extensions.code`` (``ErrorCode`` below).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from graphql import GraphQLError


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    THROTTLED = "THROTTLED"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_SUSPENDED = "TENANT_SUSPENDED"
    TENANT_NOT_READY = "TENANT_NOT_READY"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: tuple[str, ...]
    code: str
    message: str


class DomainError(Exception):
    """Expected failures of a service operation; nothing was changed."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def fail(field: str | tuple[str, ...], code: str, message: str) -> DomainError:
    """A one-error ``DomainError`` to raise: ``field`` is the input's path (snake_case,
    the API turns it into camelCase), ``()`` for the whole input."""
    path = (field,) if isinstance(field, str) else field
    return DomainError([FieldError(path, str(code), message)])


def raise_if_any(errors: list[FieldError]) -> None:
    """Services collect every problem of an input, then refuse it once with all of them."""
    if errors:
        raise DomainError(errors)


def under(prefix: str, errors: list[FieldError]) -> list[FieldError]:
    """``errors`` found in a part of the input, with their paths from the whole input's
    (``under("input", ...)``: ``contact_email`` becomes ``input.contact_email``)."""
    return [FieldError((prefix, *e.field), e.code, e.message) for e in errors]


class PublicError(GraphQLError):
    """A top-level error whose message is safe to show and whose code clients branch on."""

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message, extensions={"code": code.value})
        self.code = code
