"""The Starlette application: GraphQL, OAuth, file downloads, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import orjson
import strawberry
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from saas.auth import authenticate
from saas.backups import backup_config
from saas.config import Settings, load_settings
from saas.files import FileDownloads, files_config_from
from saas.graphql_http import GraphQLHTTP
from saas.mail import mail_config
from saas.middleware import RequestContextMiddleware
from saas.multipart import UploadLimits
from saas.oauth import oauth_config_from
from saas.oauth.routes import OAuthEdge
from saas.observability import BackendCollector, configure_logging
from saas.operator import OperatorGraphQL
from schema import TENANT_MODEL_MODULES, provision_hooks
from schema.core.engine import GraphQLEngine
from schema.core.limits import QueryLimits
from schema.files.config import configure_files
from schema.oauth.config import configure_oauth
from schema.operator.api import build_operator_schema
from schema.root import build_schema
from tenants.migrations import behind_head_count
from tenants.resolver import TenantResolver
from tenants.runtime import Tenancy
from workers.background import BackgroundWork, WorkerConfig
from workers.backups.config import configure_backups
from workers.mail.config import configure_mail
from workers.relay import RelayConfig
from workers.scheduler import run_scheduler


def make_tenancy(settings: Settings) -> Tenancy:
    # Every process (server, worker, command) makes its tenancy here, and tenants created
    # or keys rotated anywhere must be sealed with the configured secret; download links
    # made anywhere must be signed with it.
    configure_oauth(oauth_config_from(settings))
    configure_files(files_config_from(settings))
    return Tenancy(settings.tenancy(), TENANT_MODEL_MODULES, provision_hooks=provision_hooks())


def make_background(settings: Settings) -> BackgroundWork:
    """Serve and worker processes alike: the jobs' own configuration, then the broker."""
    configure_backups(backup_config(settings))
    configure_mail(mail_config(settings))
    config = WorkerConfig(
        broker_url=settings.broker_url,
        pools=settings.worker_pools,
        relay=RelayConfig(
            poll_interval=settings.relay_interval,
            redeliver_after=timedelta(seconds=settings.redeliver_after),
        ),
    )
    return BackgroundWork(config, lambda: make_tenancy(settings))


@contextlib.asynccontextmanager
async def background_running(
    settings: Settings, tenancy: Tenancy, background: BackgroundWork, *, workers: bool
) -> AsyncIterator[None]:
    """The relay and scheduler on this loop, and (``workers``) the worker pools in this
    process's threads, for as long as the block runs."""
    if workers:
        await asyncio.to_thread(background.start_workers)
    relay = background.relay(tenancy)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(redeliver_all_sent=background.config.embedded))]
    if settings.scheduler:
        tasks.append(asyncio.create_task(run_scheduler(tenancy, stop)))
    try:
        yield
    finally:
        relay.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if workers:
            await asyncio.to_thread(background.stop_workers)


def make_engine(settings: Settings, schema: strawberry.Schema | None = None) -> GraphQLEngine:
    """The tenants' root schema's engine, or ``schema``'s (the operator's)."""
    limits = QueryLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_cost=settings.graphql_max_cost,
    )
    schema = schema or build_schema()
    return GraphQLEngine(schema, limits, introspection=not settings.production)


def _json(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, media_type="application/json")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    tenancy = make_tenancy(settings)
    resolver = TenantResolver(tenancy.registry, settings.base_domain)
    graphql = GraphQLHTTP(
        make_engine(settings),
        resolver,
        authenticate=authenticate,
        max_body_bytes=settings.max_body_bytes,
        graphiql=not settings.production,
        uploads=UploadLimits(
            max_bytes=settings.upload_max_bytes,
            max_files=settings.upload_max_files,
            max_field_bytes=settings.max_body_bytes,
        ),
    )
    operator_graphql = OperatorGraphQL(
        make_engine(settings, build_operator_schema()),
        resolver,
        max_body_bytes=settings.max_body_bytes,
        graphiql=not settings.production,
    )
    collector = BackendCollector(tenancy.backend.stats)
    background = make_background(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await tenancy.start()
        REGISTRY.register(collector)
        try:
            async with background_running(
                settings, tenancy, background, workers=background.config.embedded
            ):
                yield
        finally:
            REGISTRY.unregister(collector)
            await tenancy.close()

    async def healthz(request: Request) -> Response:
        return _json({"status": "alive"})

    async def readyz(request: Request) -> Response:
        """Ready when the database answers and the registry is at head. Tenants behind
        head are reported, not fatal: each is refused on its own until migrated."""
        try:
            await tenancy.backend.ping()
            async with tenancy.backend.registry_target() as target:
                registry_version = await target.version(tenancy.shared_track)
            behind = await behind_head_count()
        except Exception as exc:  # readiness reports any failure instead of raising it
            return _json({"status": "unavailable", "reason": type(exc).__name__}, 503)
        if registry_version != tenancy.shared_track.head:
            return _json({"status": "unavailable", "reason": "registry behind head"}, 503)
        return _json({"status": "ready", "tenants_behind_head": behind})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    routes = [
        # The endpoint itself as the routes' ASGI app: no Request/Response objects.
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/t/{slug}/graphql", graphql, methods=["GET", "POST"]),
        Route("/operator/graphql", operator_graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *OAuthEdge(resolver, max_body_bytes=settings.max_body_bytes).routes(),
        *FileDownloads(resolver).routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContextMiddleware)],
        lifespan=lifespan,
    )
    app.state.tenancy = tenancy
    app.state.background = background
    return app


def asgi_app() -> Starlette:
    """Entry point for uvicorn's factory mode (``saas serve``)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
