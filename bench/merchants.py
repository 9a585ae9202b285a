"""Merchants: ``python -m bench merchants [--samples 50] [--applications 10000]``.

1. Submission to the automated review's result: a complete application is committed
   with its ``merchants.screen`` job (as a submission does), and the time runs until
   the job's review has committed (``saas_jobs_total`` done), one submission at a time.
   On the embedded default (SQLite, StubBroker, an in-process worker pool) and on Redis
   (the same machinery with a Redis broker, as ``bench jobs`` runs it). Reference: the
   same round trip of a no-op tenant job (``bench.noop``) on the same rig, in the same
   run, alternating with the reviews.
2. The review queue with ``--applications`` applications in review (each with the eight
   findings of its automated review): ``merchantReviewQueue(first: 50)`` through the
   GraphQL engine in-process (parse/validation cached, as in production), as a reviewer,
   on SQLite and PostgreSQL; the first page, a page deep in the queue (keyset), a page
   filtered by risk (target: under 50 ms each), and for information the first page with
   every application's findings (400 objects more to resolve). Reference: a bare
   indexed ``SELECT`` of the same 50 rows on the same connection.

Both print ratios against the reference: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from bench.jobs import NOOP, Rig, jobs_done, redis_reachable
from bench.report import Row, format_row, format_table, max_ms_per_op
from schema.core.context import RequestContext
from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.principal import Grants, Principal, PrincipalKind
from schema.files.models import StoredFile
from schema.identity.models import User
from schema.merchants.models import (
    DocumentKind,
    Merchant,
    MerchantDocument,
    RiskLevel,
    ScreeningFinding,
)
from schema.merchants.service.bank_details import BankDetails, seal
from schema.merchants.service.screening import SCREEN_ACTOR, Check
from schema.merchants.status import MerchantStatus
from schema.root import build_schema
from tenants.backends import TENANT_ALIAS
from tenants.outbox import enqueue
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

QUEUE_BUDGET_MS = 50.0
PAGE = 50
ACTOR_MODULES = ("bench.jobs", "workers.merchants.actors")
REVIEWER = Principal(
    PrincipalKind.USER,
    grants=Grants.merge([("merchants:review", None)]),
    user_id=10**6,  # not a user of the tenant: reviewers are never applicants here
    scopes=frozenset({"*"}),
)
BANK = BankDetails(account_holder="Bench GmbH", country="DE", iban="DE89370400440532013000")
A_YEAR_ON = (datetime.now(UTC) + timedelta(days=365)).date()


# --- 1. submission to review ---------------------------------------------------------------


async def _until_done(actor: str, before: float, limit_s: float = 60.0) -> None:
    deadline = time.perf_counter() + limit_s
    while jobs_done(actor) <= before:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{actor} did not finish within {limit_s:g} s")
        await asyncio.sleep(0.001)


async def _submit(owner: User, n: int) -> None:
    """A complete application, SUBMITTED, and its review job: one transaction."""
    async with in_transaction(TENANT_ALIAS):
        merchant = await Merchant.create(
            owner_user_id=owner.id, status=MerchantStatus.SUBMITTED, submission_count=1,
            standard_version=1, submitted_at=datetime.now(UTC), business_name=f"Bench {n}",
            legal_name=f"Bench {n} GmbH", registration_number=f"HRB-{n:06d}", category="food",
            contact_email=f"owner{n}@bench.example", contact_phone="+4930123456", country="DE",
        )  # fmt: skip
        for kind in (DocumentKind.BUSINESS_LICENCE, DocumentKind.BANK_ACCOUNT_PROOF):
            await _document(merchant, kind, None)
        await _document(merchant, DocumentKind.REPRESENTATIVE_IDENTITY, A_YEAR_ON)
        await Merchant.filter(id=merchant.id).update(
            bank_details_sealed=seal(BANK, merchant.id), bank_account_last4=BANK.last4
        )
        await enqueue(SCREEN_ACTOR, {"merchant_id": merchant.id, "submission": 1})


async def _document(merchant: Merchant, kind: DocumentKind, expires: Any) -> None:
    # The row only: the review reads documents' kinds and dates, never their bytes.
    stored = await StoredFile.create(
        key=uuid.uuid4().hex, purpose="merchant_document", filename="doc.pdf",
        media_type="application/pdf", size=1000, sha256="0" * 64, uploaded_by="bench",
    )  # fmt: skip
    await MerchantDocument.create(
        merchant_id=merchant.id, kind=kind, file_id=stored.id, filename="doc.pdf",
        media_type="application/pdf", size=1000, sha256="0" * 64, expires_on=expires,
        uploaded_by="bench", uploaded_at=datetime.now(UTC),
    )  # fmt: skip


async def _round_trip(
    tenant: TenantRecord, actor: str, commit: Callable[[], Awaitable[None]]
) -> float:
    """Seconds from the commit of ``commit``'s transaction to the job's "done". The
    tenant's scope ends with the commit: that is when the relay is told (as after a
    request)."""
    before = jobs_done(actor)
    async with tenant_scope(tenant):
        await commit()
    committed = time.perf_counter()
    await _until_done(actor, before)
    return time.perf_counter() - committed


async def review_latency(args: argparse.Namespace, broker: str, url: str | None) -> Row:
    async with Rig(_rig_args(args, "sqlite"), url, ACTOR_MODULES) as rig:
        tenant = rig.tenants[0]
        async with tenant_scope(tenant):
            owner = await User.create(email="owner@bench.example", full_name="Bench Owner")
        reviews: list[float] = []
        noops: list[float] = []
        for i in range(args.samples + 5):  # 5 warm-ups, then alternating samples
            review = await _round_trip(tenant, SCREEN_ACTOR, lambda i=i: _submit(owner, i))
            noop = await _round_trip(tenant, NOOP, lambda i=i: _noop(i))
            if i >= 5:
                reviews.append(review)
                noops.append(noop)
    p50, p99 = _quantiles(reviews)
    return Row(
        f"submission -> review result, {broker}",
        args.samples,
        p50,
        1,
        ref_ms=statistics.median(noops) * 1000,
        detail=f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; ref: no-op job round trip",
    )


async def _noop(i: int) -> None:
    await enqueue(NOOP, {"marker": f"merchants-bench-{i}"})


def _quantiles(values: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _rig_args(args: argparse.Namespace, backend: str) -> argparse.Namespace:
    return argparse.Namespace(backend=backend, threads=args.threads)


# --- 2. the review queue -------------------------------------------------------------------

FIELDS = "id businessName status riskLevel submittedAt claimedByUserId"
QUEUE = f"""query($after: String, $risk: MerchantRiskLevel) {{
  merchantReviewQueue(first: {PAGE}, after: $after, filter: {{riskLevel: $risk}}) {{
    edges {{ cursor node {{ {FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
WITH_FINDINGS = f"""{{ merchantReviewQueue(first: {PAGE}) {{
    nodes {{ {FIELDS} findings {{ check passed severity evidence }} }} }} }}"""
BARE_SELECT = (
    f"SELECT * FROM merchant WHERE status = 'in_review' ORDER BY submitted_at, id LIMIT {PAGE}"
)


async def seed_queue(count: int) -> None:
    """``count`` applications in review, submitted over 30 days (many sharing a second),
    each with the findings of one automated review."""
    owner = await User.create(email="applicant@bench.example", full_name="Bench Applicant")
    rng = random.Random(5)
    start = datetime.now(UTC) - timedelta(days=30)
    now = datetime.now(UTC)
    risks = list(RiskLevel)
    for offset in range(0, count, 1000):
        batch = [
            Merchant(
                owner_user_id=owner.id, status=MerchantStatus.IN_REVIEW, business_name=f"M{n}",
                registration_number=f"HRB-{n:06d}", submission_count=1, standard_version=1,
                risk_level=rng.choice(risks), created_at=now, updated_at=now,
                submitted_at=start + timedelta(seconds=rng.randrange(30 * 86400 // 60) * 60),
            )
            for n in range(offset, min(count, offset + 1000))
        ]  # fmt: skip
        await Merchant.bulk_create(batch)
    ids = await Merchant.all().values_list("id", flat=True)
    for offset in range(0, len(ids), 500):
        await ScreeningFinding.bulk_create(
            [
                ScreeningFinding(
                    merchant_id=merchant_id, submission=1, check_name=str(check), passed=True,
                    severity="return", evidence={"checked": True}, checked_at=now,
                )
                for merchant_id in ids[offset : offset + 500]
                for check in Check
            ]
        )  # fmt: skip


class Queue:
    def __init__(self, tenant: TenantRecord) -> None:
        self.tenant = tenant
        self.engine = GraphQLEngine(build_schema(), QueryLimits(), introspection=False)

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        context = RequestContext(request_id="bench", tenant=self.tenant, principal=REVIEWER)
        async with tenant_scope(self.tenant):
            response = await self.engine.run(GraphQLRequest(query, variables or None), context)
        if "errors" in response.payload:
            raise RuntimeError(f"the queue query failed: {response.payload['errors']}")
        return response.payload["data"]

    async def bare(self) -> None:
        async with tenant_scope(self.tenant):
            rows = await connections.get(TENANT_ALIAS).execute_query_dict(BARE_SELECT)
        assert len(rows) == PAGE

    async def deep_cursor(self, position: int) -> str:
        """The cursor after ``position`` applications (by walking the pages)."""
        after = None
        for _ in range(position // PAGE):
            page = (await self.run(QUEUE, after=after))["merchantReviewQueue"]
            after = page["pageInfo"]["endCursor"]
        assert after is not None
        return str(after)


async def alternating(
    rounds: int, per_round: int, calls: dict[str, Callable[[], Awaitable[object]]]
) -> dict[str, float]:
    """Median seconds of each call, taken in rounds in turn (a busy neighbour weighs on
    every call alike), after one warm-up call each."""
    durations: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        await call()
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(per_round):
                start = time.perf_counter()
                await call()
                durations[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in durations.items()}


async def queue_rows(args: argparse.Namespace, backend: str) -> list[Row]:
    position = min(9000, args.applications - PAGE)
    async with Rig(_rig_args(args, backend), None, ("bench.jobs",)) as rig:
        queue = Queue(rig.tenants[0])
        async with tenant_scope(queue.tenant):
            await seed_queue(args.applications)
        deep = await queue.deep_cursor(position)
        medians = await alternating(
            args.rounds,
            20,
            {
                "bare": queue.bare,
                "first page": lambda: queue.run(QUEUE),
                f"page after {position:,}": lambda: queue.run(QUEUE, after=deep),
                "first page, risk HIGH": lambda: queue.run(QUEUE, risk="HIGH"),
                "first page with 8 findings each": lambda: queue.run(WITH_FINDINGS),
            },
        )
    ref_ms = medians.pop("bare") * 1000
    target = max_ms_per_op(QUEUE_BUDGET_MS, f"< {QUEUE_BUDGET_MS:g} ms")
    return [
        Row(f"merchantReviewQueue(first: 50), {name}, {backend}", args.applications, seconds,
            1, ref_ms=ref_ms, target=None if "findings" in name else target,
            detail="ref: bare indexed SELECT of 50 rows")
        for name, seconds in medians.items()
    ]  # fmt: skip


# --- running -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench merchants", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=50, help="submissions per broker")
    parser.add_argument("--applications", type=int, default=10_000, help="in the queue")
    parser.add_argument("--rounds", type=int, default=5, help="queue: rounds of 20 calls")
    parser.add_argument("--threads", type=int, default=2, help="worker threads")
    parser.add_argument("--brokers", default="embedded,redis")
    parser.add_argument("--backends", default="sqlite,postgres", help="for the queue")
    parser.add_argument("--redis-url", default=os.environ.get("SAAS_BENCH_REDIS_URL",
                        "redis://127.0.0.1:6379/7"))  # fmt: skip
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for broker in args.brokers.split(","):
        url = args.redis_url if broker == "redis" else None
        if url and not redis_reachable(url):
            print(f"  redis: not reachable at {url}, skipped", flush=True)
            continue
        rows.append(await review_latency(args, broker, url))
        print(format_row(rows[-1]), flush=True)
    for backend in args.backends.split(","):
        for row in await queue_rows(args, backend):
            print(format_row(row), flush=True)
            rows.append(row)
    return rows


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    load = os.getloadavg()
    print(f"merchants: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    rows = asyncio.run(run(args))
    load = os.getloadavg()
    print(f"\n{format_table(rows)}\nload average at the end {load[0]:.2f} {load[1]:.2f}")
    return 1 if any(row.verdict == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
