"""Tenant-written registration-number patterns cannot stall the process: RE2 matches in
linear time, and refuses what it could not (backreferences) when the standards change."""

from __future__ import annotations

import time

import pytest

from schema.merchants.patterns import PatternError, compiled, matches
from tenants.records import TenantRecord
from tests.schema.graphql import gql
from tests.schema.principals import user_with

# Catastrophic for a backtracking engine: about 2**n steps on "A" * n + "-".
NESTED = r"([A-Z0-9]+)+"
ADMIN = user_with("merchants:configure", user_id=7)
UPDATE = """mutation ($pattern: String!) {
  merchantOnboardingStandardsUpdate(
    input: {registrationNumberPattern: $pattern}, reason: "new register"
  ) { errors { field code } }
}"""


def test_a_nested_quantifier_matches_in_linear_time() -> None:
    started = time.perf_counter()
    assert not matches(NESTED, "A" * 64 + "-")
    assert time.perf_counter() - started < 0.05
    assert matches(NESTED, "HRB12345")


@pytest.mark.parametrize("pattern", [r"(A)\1", r"(?=A)A", "A{1001}", "("])
def test_patterns_re2_cannot_run_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compiled(pattern)


async def test_the_standards_refuse_a_backreference(acme: TenantRecord) -> None:
    refused = await gql(acme, ADMIN, UPDATE, pattern=r"^(\d)\1+$")
    assert refused["data"]["merchantOnboardingStandardsUpdate"]["errors"] == [
        {"field": ["input", "registrationNumberPattern"], "code": "INVALID"}
    ]
    accepted = await gql(acme, ADMIN, UPDATE, pattern=NESTED)
    assert accepted["data"]["merchantOnboardingStandardsUpdate"]["errors"] == []
