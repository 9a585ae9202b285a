"""What authentication costs: token verification per request, a sign-in's password
check, and a whole GraphQL request with and without a verified token.

Everything runs in this process on the embedded default (SQLite, a temporary data dir,
one tenant with one owner): the costs compared are CPU costs of our code, which a
network client would only blur. The reference is a bare JWT decode with joserfc (the
signature check and JSON parsing, nothing of ours) measured in the same run; the GraphQL
rows call the ASGI app directly, the two variants in alternating rounds so that a busy
neighbour weighs on both alike.

    python -m bench auth [--requests 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from joserfc import jwt

from bench.report import Row, format_table, max_ms_per_op
from saas.app import create_app
from saas.auth import authenticate
from saas.config import load_settings
from schema.access.service import assign_role
from schema.identity import passwords
from schema.identity.service.accounts import create_user
from schema.oauth import keys
from schema.oauth.tokens import access_claims, sign_access_token, verify_access_token
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

SLUG = "bench"
PASSWORD = "correct horse battery staple 42"
TYPENAME = b'{"query":"{ __typename }"}'
TOKEN_BUDGET_MS = 0.3  # what a verified token may add to a GraphQL request


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench auth")
    parser.add_argument("--requests", type=int, default=3000, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


async def per_call_s(calls: int, call: Callable[[], Awaitable[object]]) -> float:
    await call()
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls


async def _sync(fn: Callable[[], object]) -> object:
    return fn()


class ASGICall:
    """One POST of ``body`` to the app, straight through its ASGI interface."""

    def __init__(self, app: Any, body: bytes, authorization: str | None) -> None:
        headers = [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"accept", b"application/graphql-response+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if authorization:
            headers.append((b"authorization", authorization.encode()))
        self.app = app
        self.body = body
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": f"/t/{SLUG}/graphql",
            "raw_path": f"/t/{SLUG}/graphql".encode(), "root_path": "", "query_string": b"",
            "headers": headers, "client": ("127.0.0.1", 40000), "server": ("localhost", 80),
        }  # fmt: skip
        self.status = 0

    async def __call__(self) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]

        await self.app(dict(self.scope), receive, send)
        if self.status != 200:
            raise RuntimeError(f"the app answered {self.status}")


async def graphql_rows(app: Any, token: str, args: argparse.Namespace) -> list[Row]:
    """Median per-request time of each variant over alternating rounds."""
    variants = {
        "without a token": ASGICall(app, TYPENAME, None),
        "with a verified token": ASGICall(app, TYPENAME, f"Bearer {token}"),
    }
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, call in variants.items():
            rounds[name].append(await per_call_s(args.requests, call))
    bare, verified = (statistics.median(rounds[name]) for name in variants)
    added_ms = (verified - bare) * 1000
    n = args.requests * args.rounds
    return [
        Row("graphql { __typename }, no token", n, bare * n, n, ref_ms=bare * 1000),
        Row(
            "graphql { __typename }, verified token",
            n,
            verified * n,
            n,
            ref_ms=bare * 1000,
            detail=f"adds {added_ms:.3f} ms",
        ),
        Row(
            "added by the token",
            n,
            max(0.0, added_ms / 1000) * n,
            n,
            target=max_ms_per_op(TOKEN_BUDGET_MS),
        ),
    ]


async def run(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(
            {"SAAS_DATA_DIR": data_dir, "SAAS_WORKER_POOLS": "", "SAAS_SCHEDULER": "false",
             "SAAS_LOG_LEVEL": "WARNING"}
        )  # fmt: skip
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            tenant = await create_tenant(SLUG, "Bench Ltd", actor="bench")
            async with tenant_scope(tenant):
                user = await create_user("owner@bench.example.com", "Owner", password=PASSWORD)
                await assign_role(user.id, "owner")
                token = await sign_access_token(
                    access_claims(tenant, client_id="bench", user_id=user.id, scope="*")
                )
                signer = await keys.current_signer()
                rows = await token_rows(tenant, token, signer.key, user.password_hash, args)
            rows += await graphql_rows(app, token, args)
        return rows


async def token_rows(
    tenant: TenantRecord, token: str, key: Any, password_hash: str, args: argparse.Namespace
) -> list[Row]:
    calls = args.requests
    bare = await per_call_s(calls, lambda: _sync(lambda: jwt.decode(token, key, ["RS256"])))
    ref = bare * 1000
    verify = await per_call_s(calls, lambda: verify_access_token(tenant, token))
    principal = await per_call_s(calls, lambda: authenticate(tenant, f"Bearer {token}"))
    sign_in = await per_call_s(5, lambda: passwords.verify_password_async(password_hash, PASSWORD))
    return [
        Row("bare JWT decode (joserfc, RS256)", calls, bare * calls, calls, ref_ms=ref),
        Row("verify_access_token", calls, verify * calls, calls, ref_ms=ref),
        Row("token -> principal (verify + roles)", calls, principal * calls, calls, ref_ms=ref),
        Row(
            "argon2id password check (sign-in)",
            5,
            sign_in * 5,
            5,
            ref_ms=ref,
            detail=f"m={passwords.current_parameters().memory_cost} KiB",
        ),
    ]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    rows = asyncio.run(run(args))
    print(format_table(rows))
    failed = sum(row.verdict == "FAIL" for row in rows)
    print(f"\n{failed} target(s) missed")
    return 1 if failed else 0
