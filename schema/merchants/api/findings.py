"""The automated review's findings as a merchant shows them (``Merchant.findings``).

Who sees what:

- reviewers (``merchants:review`` covering the merchant) see every finding of the
  latest submission, with its evidence;
- the applicant sees the findings they can act on (severity RETURN: documents,
  registration number format, bank details), with their evidence, and not the risk
  checks (watch list, a registration number held by another merchant, restricted
  category, documents expiring soon): those are the tenant's own assessment, and
  telling an applicant they matched the watch list would tell a fraudster what the
  tenant knows;
- anyone else: null.

Loaded once per request for every merchant of a list (a DataLoader).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from schema.core.permissions import principal_of
from schema.merchants.api.common import MERCHANTS_REVIEW, granted, is_owner
from schema.merchants.models import ScreeningFinding
from schema.merchants.service.screening import Check, Severity

if TYPE_CHECKING:
    from schema.merchants.api.types import MerchantNode

strawberry.enum(
    Check, name="MerchantScreeningCheck", description="A check of the automated review."
)
strawberry.enum(
    Severity,
    name="MerchantFindingSeverity",
    description="What a failed check means: RETURN sends the application back to the "
    "applicant; HIGH and MEDIUM set the risk level a reviewer sees.",
)


@strawberry.type(
    name="MerchantScreeningFinding",
    description="One check of the automated review of a submission, passed or failed.",
)
class ScreeningFindingType:
    check: Check
    passed: bool
    severity: Severity
    evidence: JSON = strawberry.field(
        description="What was compared and what was found (never more of the bank "
        "account than its last four characters)."
    )
    submission: int
    checked_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScreeningFindingType:
        return cls(
            check=Check(row["check_name"]),
            passed=row["passed"],
            severity=Severity(row["severity"]),
            evidence=row["evidence"],
            submission=row["submission"],
            checked_at=row["checked_at"],
        )


Key = tuple[int, int]  # (merchant id, submission)
_COLUMNS = (
    "merchant_id",
    "check_name",
    "passed",
    "severity",
    "evidence",
    "submission",
    "checked_at",
)


async def _load(keys: Sequence[Key]) -> list[list[ScreeningFindingType]]:
    """The findings of each (merchant, submission), in one query; plain rows, not model
    instances (a page of 50 merchants holds 400 findings)."""
    rows = await (
        ScreeningFinding.filter(
            merchant_id__in=sorted({merchant for merchant, _ in keys}),
            submission__in=sorted({submission for _, submission in keys}),
        )
        .order_by("id")
        .values(*_COLUMNS)
    )
    found: dict[Key, list[ScreeningFindingType]] = defaultdict(list)
    for row in rows:
        found[row["merchant_id"], row["submission"]].append(ScreeningFindingType.from_row(row))
    return [found[key] for key in keys]


def findings_loader() -> DataLoader[Key, list[ScreeningFindingType]]:
    return DataLoader(load_fn=_load)


async def findings_of(
    info: strawberry.Info, merchant: MerchantNode
) -> list[ScreeningFindingType] | None:
    principal = principal_of(info.context)
    reviewer = granted(principal, merchant.model, MERCHANTS_REVIEW)
    if not (reviewer or is_owner(principal, merchant.model)):
        return None
    key = (merchant.model.id, merchant.model.submission_count)
    rows = await info.context.loader(findings_loader).load(key)
    return rows if reviewer else [r for r in rows if r.severity is Severity.RETURN]
