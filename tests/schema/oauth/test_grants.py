"""Housekeeping of grants: what can no longer be used nor detected as replayed goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schema.oauth.clients import ClientSettings, NewClient, create_client
from schema.oauth.grants import USED_CODE_RETENTION, digest, new_sid, purge_expired
from schema.oauth.models import (
    AuthorizationCode,
    ClientKind,
    GrantType,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope


async def test_purge_removes_only_what_is_over(acme: TenantRecord) -> None:
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    async with tenant_scope(acme):
        client = (
            await create_client(
                NewClient(
                    ClientKind.PUBLIC,
                    ClientSettings(
                        name="App",
                        redirect_uris=["https://a.example/cb"],
                        grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN],
                    ),
                )
            )
        ).client
        for name, expires in (("old", now - USED_CODE_RETENTION - hour), ("kept", now - hour)):
            await AuthorizationCode.create(
                code_hash=digest(name),
                client_id=client.id,
                user_id=1,
                redirect_uri="x",
                scope="",
                code_challenge="c",
                created_at=expires,
                expires_at=expires,
            )
        families = {}
        for name, expires in (("over", now - hour), ("live", now + hour)):
            families[name] = await TokenFamily.create(
                sid=new_sid(),
                client_id=client.id,
                user_id=1,
                scope="",
                created_at=now,
                expires_at=expires,
            )
            await RefreshToken.create(
                token_hash=digest(name),
                family_id=families[name].id,
                created_at=now,
                expires_at=expires,
            )
        await RevokedAccessToken.create(jti="gone", expires_at=now - hour)
        await RevokedAccessToken.create(jti="still", expires_at=now + hour)

        assert await purge_expired() == 4
        codes = await AuthorizationCode.all().values_list("code_hash", flat=True)
        left = await TokenFamily.all().values_list("id", flat=True)
        tokens = await RefreshToken.all().values_list("token_hash", flat=True)
        revoked = await RevokedAccessToken.all().values_list("jti", flat=True)
    assert codes == [digest("kept")]
    assert left == [families["live"].id]
    assert tokens == [digest("live")]
    assert revoked == ["still"]
