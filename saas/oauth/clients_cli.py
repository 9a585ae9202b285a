"""``saas clients create``: register a tenant's OAuth client from the command line.

Clients are otherwise registered over GraphQL by an administrator, who needs a token,
which needs a client: this is the way in for a tenant's first app (or a server of the
platform's own). Prints the client id and, for a confidential client, its secret, once.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson

from saas.app import make_tenancy
from saas.config import Settings
from schema.audit.service import Acting, acting_as
from schema.core.errors import DomainError
from schema.core.principal import system_principal
from schema.oauth.clients import ClientSettings, NewClient, create_client
from schema.oauth.models import ClientKind, GrantType
from tenants.scope import tenant_scope


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "clients", help="OAuth clients of a tenant: create the first one"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="register a client; prints its secret once")
    create.add_argument("--tenant", required=True, metavar="SLUG")
    create.add_argument("--name", required=True)
    create.add_argument("--kind", choices=[k.value for k in ClientKind], default="public")
    create.add_argument("--grant", action="append", choices=[g.value for g in GrantType],
                        default=[], help="repeat for each grant type")  # fmt: skip
    create.add_argument("--redirect-uri", action="append", default=[], metavar="URI")
    create.add_argument("--scope", action="append", default=[], help="repeat for each scope")
    create.add_argument("--first-party", action="store_true", help="no consent page")
    create.add_argument("--merchant", type=int, help="a merchant's server")
    return parser


async def _create(settings: Settings, args: argparse.Namespace) -> int:
    new = NewClient(
        ClientKind(args.kind),
        ClientSettings(
            name=args.name,
            redirect_uris=args.redirect_uri,
            grant_types=[GrantType(g) for g in args.grant],
            scopes=args.scope,
            first_party=args.first_party,
        ),
        merchant_id=args.merchant,
    )
    async with make_tenancy(settings) as tenancy:
        tenant = await tenancy.registry.by_slug(args.tenant)
        with acting_as(Acting(system_principal("cli"))):
            async with tenant_scope(tenant):
                try:
                    registered = await create_client(new)
                except DomainError as exc:
                    for error in exc.errors:
                        print(f"{'.'.join(error.field)}: {error.code}: {error.message}")
                    return 2
    print(orjson.dumps({"client_id": registered.client.client_id,
                        "client_secret": registered.secret}).decode())  # fmt: skip
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_create(settings, args))
