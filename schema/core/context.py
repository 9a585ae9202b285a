"""What every resolver gets in ``info.context``: made fresh for each request, never shared.

DataLoaders live here, one set per request: a loader made once per process mixed two
tenants' rows in the prototype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from schema.core.principal import ANONYMOUS, Principal
from tenants.records import TenantRecord

Loader = TypeVar("Loader", bound=DataLoader[Any, Any])


@dataclass(slots=True)
class RequestContext:
    request_id: str
    tenant: TenantRecord
    principal: Principal = ANONYMOUS
    source_address: str | None = None  # the client's IP address, as the edge saw it
    _loaders: dict[Callable[[], Any], Any] = field(default_factory=dict)

    def loader(self, factory: Callable[[], Loader]) -> Loader:
        """This request's instance of the loader ``factory`` makes."""
        found = self._loaders.get(factory)
        if found is None:
            found = self._loaders[factory] = factory()
        return found
