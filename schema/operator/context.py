"""What the operator schema's resolvers get in ``info.context``: the operator the
request's key belongs to. There is no tenant: an operation that touches one enters its
scope itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from schema.core.principal import Principal, system_principal


@dataclass(frozen=True, slots=True)
class OperatorIdentity:
    id: int
    name: str

    @property
    def actor(self) -> str:
        """How the registry's tenant_event and the audit trail name this operator."""
        return f"operator:{self.name}"


@dataclass(slots=True)
class OperatorContext:
    request_id: str
    operator: OperatorIdentity
    source_address: str | None = None
    principal: Principal = field(init=False)

    def __post_init__(self) -> None:
        self.principal = system_principal(self.operator.actor)
