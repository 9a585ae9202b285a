"""Registering clients: the rules between kind, grants, redirect URIs and scopes; secrets
shown once and stored as digests; every refusal typed, and changing nothing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from schema.core.errors import DomainError
from schema.oauth.clients import (
    ClientSettings,
    NewClient,
    create_client,
    disable_client,
    enable_client,
    rotate_secret,
    update_client,
)
from schema.oauth.grants import find_client, new_sid
from schema.oauth.models import ClientKind, ClientStatus, GrantType, OAuthClient, TokenFamily
from tenants.records import TenantRecord
from tenants.scope import tenant_scope

CODE = [GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN]
APP = "com.acme.app:/cb"


def settings(**overrides: Any) -> ClientSettings:
    values: dict[str, Any] = {
        "name": "Acme app",
        "redirect_uris": [APP],
        "grant_types": CODE,
        "scopes": ["orders:read", "offline_access"],
    }
    return ClientSettings(**{**values, **overrides})


async def refusal(new: NewClient) -> list[tuple[tuple[str, ...], str]]:
    with pytest.raises(DomainError) as caught:
        await create_client(new)
    assert await OAuthClient.all().count() == 0
    return [(e.field, e.code) for e in caught.value.errors]


async def test_a_public_client_has_no_secret(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        made = await create_client(NewClient(ClientKind.PUBLIC, settings(first_party=True)))
        row = await OAuthClient.get(id=made.client.id)
    assert made.secret is None
    assert row.secret_hash is None
    assert row.client_id.startswith("c_")
    assert (row.kind, row.status, row.first_party) == (ClientKind.PUBLIC, ClientStatus.ACTIVE, True)
    assert row.grant_types == ["authorization_code", "refresh_token"]
    assert row.redirect_uris == [APP]


async def test_a_confidential_clients_secret_is_shown_once_and_stored_as_a_digest(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        made = await create_client(
            NewClient(
                ClientKind.CONFIDENTIAL,
                settings(
                    grant_types=[GrantType.CLIENT_CREDENTIALS],
                    redirect_uris=[],
                    scopes=["orders:*"],
                ),
                merchant_id=9,
            )
        )
        row = await OAuthClient.get(id=made.client.id)
        found = await find_client(row.client_id)
    assert made.secret is not None
    assert len(made.secret) >= 43  # 256 bits
    assert row.secret_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert made.secret not in str(row.__dict__)
    assert found is not None
    assert (found.merchant_id, found.scopes) == (9, ("orders:*",))


@pytest.mark.parametrize(
    ("kind", "overrides", "expected"),
    [
        (ClientKind.PUBLIC, {"name": " "}, [(("name",), "INVALID")]),
        (ClientKind.PUBLIC, {"name": "x" * 201}, [(("name",), "INVALID")]),
        (ClientKind.PUBLIC, {"redirect_uris": []}, [(("redirectUris",), "REQUIRED")]),
        (
            ClientKind.PUBLIC,
            {"redirect_uris": ["https://a.example/*"]},
            [(("redirectUris",), "INVALID")],
        ),
        (
            ClientKind.PUBLIC,
            {"redirect_uris": ["https://a.example/cb#x"]},
            [(("redirectUris",), "INVALID")],
        ),
        (
            ClientKind.PUBLIC,
            {"redirect_uris": ["http://a.example/cb"]},
            [(("redirectUris",), "NOT_ALLOWED")],
        ),
        (
            ClientKind.PUBLIC,
            {"redirect_uris": ["javascript:alert(1)"]},
            [(("redirectUris",), "NOT_ALLOWED")],
        ),
        (ClientKind.PUBLIC, {"redirect_uris": ["/relative"]}, [(("redirectUris",), "NOT_ALLOWED")]),
        (ClientKind.CONFIDENTIAL, {"redirect_uris": [APP]}, [(("redirectUris",), "NOT_ALLOWED")]),
        (
            ClientKind.PUBLIC,
            {"redirect_uris": [f"https://a.example/{i}" for i in range(11)]},
            [(("redirectUris",), "TOO_MANY")],
        ),
        (
            ClientKind.PUBLIC,
            {"grant_types": []},
            [
                (("grantTypes",), "REQUIRED"),
                (("redirectUris",), "NOT_ALLOWED"),
                (("scopes",), "NOT_ALLOWED"),
            ],
        ),
        (
            ClientKind.PUBLIC,
            {"grant_types": [GrantType.AUTHORIZATION_CODE, GrantType.CLIENT_CREDENTIALS]},
            [(("grantTypes",), "NOT_ALLOWED"), (("scopes",), "NOT_ALLOWED")],
        ),
        (
            ClientKind.CONFIDENTIAL,
            {"grant_types": [GrantType.REFRESH_TOKEN], "redirect_uris": []},
            [(("grantTypes",), "NOT_ALLOWED")],
        ),
        (
            ClientKind.PUBLIC,
            {"scopes": ["orders:read", "orders:fly"]},
            [(("scopes",), "UNKNOWN_SCOPE")],
        ),
        (ClientKind.PUBLIC, {"scopes": ["openid"]}, [(("scopes",), "UNKNOWN_SCOPE")]),
        (
            ClientKind.PUBLIC,
            {"grant_types": [GrantType.AUTHORIZATION_CODE]},
            [(("scopes",), "NOT_ALLOWED")],
        ),
    ],
)
async def test_bad_registrations_are_refused_with_every_problem(
    acme: TenantRecord, kind: ClientKind, overrides: dict[str, Any], expected: list[Any]
) -> None:
    async with tenant_scope(acme):
        assert await refusal(NewClient(kind, settings(**overrides))) == expected


async def test_accepted_redirect_uris(acme: TenantRecord) -> None:
    uris = ["https://app.example/cb?x=1", "http://127.0.0.1:5000/cb", "http://localhost/cb", APP]
    async with tenant_scope(acme):
        made = await create_client(NewClient(ClientKind.PUBLIC, settings(redirect_uris=uris)))
    assert made.client.redirect_uris == uris


async def test_a_bad_merchant_id_is_refused(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        errors = await refusal(NewClient(ClientKind.PUBLIC, settings(name=""), merchant_id=0))
    assert errors == [(("merchantId",), "INVALID"), (("name",), "INVALID")]


async def test_an_update_changes_what_was_given_and_validates_the_result(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        made = await create_client(NewClient(ClientKind.PUBLIC, settings()))
        changed = await update_client(
            made.client.id, ClientSettings(name="Renamed", scopes=["orders:read"])
        )
        assert (changed.name, changed.scopes, changed.redirect_uris) == (
            "Renamed",
            ["orders:read"],
            [APP],
        )
        with pytest.raises(DomainError) as caught:
            await update_client(made.client.id, ClientSettings(redirect_uris=[]))
        with pytest.raises(DomainError) as nothing:
            await update_client(made.client.id, ClientSettings())
        with pytest.raises(DomainError) as missing:
            await update_client(10_000, ClientSettings(name="x"))
        stored = await OAuthClient.get(id=made.client.id)
    assert [(e.field, e.code) for e in caught.value.errors] == [(("redirectUris",), "REQUIRED")]
    assert [e.code for e in nothing.value.errors] == ["NOTHING_TO_CHANGE"]
    assert [e.code for e in missing.value.errors] == ["NOT_FOUND"]
    assert (stored.name, stored.redirect_uris) == ("Renamed", [APP])


async def test_rotating_a_secret_replaces_it(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        made = await create_client(
            NewClient(ClientKind.CONFIDENTIAL, settings(redirect_uris=["https://p.example/cb"]))
        )
        rotated = await rotate_secret(made.client.id)
        stored = await OAuthClient.get(id=made.client.id)
        public = await create_client(NewClient(ClientKind.PUBLIC, settings()))
        with pytest.raises(DomainError) as caught:
            await rotate_secret(public.client.id)
    assert rotated.secret not in (None, made.secret)
    assert stored.secret_hash == hashlib.sha256(str(rotated.secret).encode()).hexdigest()
    assert stored.secret_rotated_at is not None
    assert [e.code for e in caught.value.errors] == ["NOT_CONFIDENTIAL"]


async def test_disabling_revokes_the_clients_families_and_checks_the_transition(
    acme: TenantRecord,
) -> None:
    async with tenant_scope(acme):
        made = await create_client(NewClient(ClientKind.PUBLIC, settings()))
        pk, client_id = made.client.id, made.client.client_id
        family = await TokenFamily.create(
            sid=new_sid(),
            client_id=pk,
            user_id=1,
            scope="",
            created_at=made.client.created_at,
            expires_at=made.client.created_at,
        )
        await disable_client(pk, "  lost phone ")
        assert await find_client(client_id) is None
        with pytest.raises(DomainError) as twice:
            await disable_client(pk)
        with pytest.raises(DomainError) as too_long:
            await disable_client(pk, "x" * 501)
        revoked = await TokenFamily.get(id=family.id)
        await enable_client(pk)
        assert await find_client(client_id) is not None
        with pytest.raises(DomainError) as again:
            await enable_client(pk)
    assert revoked.revoked_reason == "client_disabled"
    assert [e.code for e in twice.value.errors] == ["ALREADY_DISABLED"]
    assert [e.code for e in too_long.value.errors] == ["INVALID"]
    assert [e.code for e in again.value.errors] == ["ALREADY_ACTIVE"]
