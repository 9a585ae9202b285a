"""Access tokens: what ``verify_access_token`` accepts, and every forgery it refuses."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from schema.oauth import keys
from schema.oauth.config import LEEWAY, oauth_config
from schema.oauth.tokens import (
    AccessClaims,
    InvalidToken,
    access_claims,
    sign_access_token,
    verify_access_token,
)
from tenants.provisioning import create_tenant
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.oauth.forge import (
    hs256,
    new_rsa_key,
    parts,
    rs256,
    unsigned,
    with_claims,
)


@pytest.fixture
async def globex(tenancy: Tenancy) -> TenantRecord:
    return await create_tenant("globex", "Globex Corporation", actor="test")


async def issue(tenant: TenantRecord, **overrides: Any) -> tuple[str, dict[str, Any]]:
    claims = access_claims(
        tenant, client_id="c_app", user_id=42, scope="orders:read offline_access"
    )
    claims.update(overrides)
    async with tenant_scope(tenant):
        return await sign_access_token(claims), claims


async def verify(tenant: TenantRecord, token: str) -> AccessClaims:
    async with tenant_scope(tenant):
        return await verify_access_token(tenant, token)


async def refusal(tenant: TenantRecord, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verify(tenant, token)
    return caught.value.reason


async def signing_key(tenant: TenantRecord) -> tuple[str, rsa.RSAPrivateKey]:
    async with tenant_scope(tenant):
        signer = await keys.current_signer()
    private = signer.key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    return signer.kid, private


async def test_a_valid_token_gives_its_claims(acme: TenantRecord) -> None:
    token, claims = await issue(acme, merchant_id=7, sid="fam1")
    header, _, _ = parts(token)
    kid, _ = await signing_key(acme)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    assert claims["iss"] == "http://localhost:8000/t/acme"
    assert claims["aud"] == "http://localhost:8000/t/acme/graphql"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert claims["tenant"] == acme.id
    assert await verify(acme, token) == AccessClaims(
        subject="42",
        user_id=42,
        client_id="c_app",
        scopes=frozenset({"orders:read", "offline_access"}),
        token_id=claims["jti"],
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        merchant_id=7,
        session_id="fam1",
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
    )


async def test_a_client_credentials_token_has_no_user(acme: TenantRecord) -> None:
    claims = access_claims(acme, client_id="c_srv", user_id=None, scope="orders:read")
    async with tenant_scope(acme):
        token = await sign_access_token(claims)
        verified = await verify_access_token(acme, token)
    assert claims["sub"] == "c_srv"
    assert (verified.subject, verified.user_id, verified.client_id) == ("c_srv", None, "c_srv")
    assert verified.session_id is None


async def test_a_token_is_valid_within_the_leeway(acme: TenantRecord) -> None:
    now = int(time.time())
    skew = int(LEEWAY.total_seconds()) - 2
    late, _ = await issue(acme, exp=now - skew)
    early, _ = await issue(acme, nbf=now + skew, iat=now + skew)
    assert (await verify(acme, late)).subject == "42"
    assert (await verify(acme, early)).subject == "42"


# -- forgeries --------------------------------------------------------------------------


async def test_a_wrong_signature_is_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    assert await refusal(acme, rs256(header, claims, new_rsa_key())) == "signature"
    assert await refusal(acme, with_claims(token, sub="1")) == "signature"
    assert await refusal(acme, with_claims(token, scope="*")) == "signature"


async def test_alg_none_is_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    for alg in ("none", "None", "NONE"):
        assert await refusal(acme, unsigned({**header, "alg": alg}, claims)) == "algorithm"
    assert await refusal(acme, unsigned(header, claims)) == "signature"


async def test_hs256_keyed_with_the_public_key_is_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    _, private = await signing_key(acme)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = hs256({**header, "alg": "HS256"}, claims, public_pem)
    assert await refusal(acme, forged) == "algorithm"


async def test_other_rsa_and_ec_algorithms_are_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    _, private = await signing_key(acme)
    for alg in ("RS512", "PS256", "ES256", "rs256"):
        assert await refusal(acme, rs256({**header, "alg": alg}, claims, private)) == "algorithm"


async def test_an_expired_token_is_refused(acme: TenantRecord) -> None:
    now = int(time.time())
    token, _ = await issue(acme, exp=now - int(LEEWAY.total_seconds()) - 1)
    assert await refusal(acme, token) == "expired"


async def test_a_token_not_yet_valid_is_refused(acme: TenantRecord) -> None:
    later = int(time.time()) + int(LEEWAY.total_seconds()) + 5
    by_nbf, _ = await issue(acme, nbf=later)
    by_iat, _ = await issue(acme, iat=later, nbf=later)
    assert await refusal(acme, by_nbf) == "not_yet_valid"
    assert await refusal(acme, by_iat) == "not_yet_valid"


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+JWT+x", "", 1])
async def test_a_wrong_or_missing_typ_is_refused(acme: TenantRecord, typ: object) -> None:
    _, claims = await issue(acme)
    kid, private = await signing_key(acme)
    forged_header = {"alg": "RS256", "kid": kid}
    if typ is not None:
        forged_header["typ"] = typ  # type: ignore[assignment]
    assert await refusal(acme, rs256(forged_header, claims, private)) == "type"


async def test_the_media_type_form_of_typ_is_accepted(acme: TenantRecord) -> None:
    _, claims = await issue(acme)
    kid, private = await signing_key(acme)
    header = {"alg": "RS256", "typ": "application/at+jwt", "kid": kid}
    assert (await verify(acme, rs256(header, claims, private))).subject == "42"


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("iss", "http://localhost:8000/t/globex", "issuer"),
        ("iss", "http://evil.example/t/acme", "issuer"),
        ("aud", "http://localhost:8000/t/acme/other", "audience"),
        ("aud", ["http://localhost:8000/t/globex/graphql"], "audience"),
        ("tenant", "someone-else", "tenant"),
        ("exp", "tomorrow", "claims"),
        ("sub", "not-a-user", "claims"),
        ("jti", None, "claims"),
        ("merchant_id", "7", "claims"),
    ],
)
async def test_wrong_claims_signed_with_the_right_key_are_refused(
    acme: TenantRecord, claim: str, value: object, reason: str
) -> None:
    """Signed with acme's own current key, so only the claim check can refuse them."""
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    _, private = await signing_key(acme)
    assert await refusal(acme, rs256(header, {**claims, claim: value}, private)) == reason


async def test_an_audience_list_holding_this_api_is_accepted(acme: TenantRecord) -> None:
    aud = ["https://other.example", oauth_config().audience("acme")]
    token, _ = await issue(acme, aud=aud)
    assert (await verify(acme, token)).user_id == 42


async def test_an_unknown_kid_is_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    _, private = await signing_key(acme)
    assert await refusal(acme, rs256({**header, "kid": "nope"}, claims, private)) == "unknown_key"
    no_kid = {"alg": "RS256", "typ": "at+jwt"}
    assert await refusal(acme, rs256(no_kid, claims, private)) == "unknown_key"


async def test_another_tenants_token_is_refused_whatever_its_claims(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    """Globex's keys are not acme's: its token names a kid acme does not know; edited
    to acme's claims its signature no longer fits; signed with globex's key under a
    kid of acme it does not verify; and even acme's own key cannot make a token of
    acme carry globex's tenant."""
    token, claims = await issue(globex)
    assert (await verify(globex, token)).user_id == 42
    assert await refusal(acme, token) == "unknown_key"

    acme_kid, acme_private = await signing_key(acme)
    _, globex_private = await signing_key(globex)
    as_acme = {
        **claims,
        "iss": oauth_config().issuer("acme"),
        "aud": oauth_config().audience("acme"),
        "tenant": acme.id,
    }
    assert await refusal(acme, with_claims(token, **as_acme)) == "unknown_key"
    header, _, _ = parts(token)
    under_acme_kid = {**header, "kid": acme_kid}
    assert (
        await refusal(acme, with_claims(rs256(under_acme_kid, claims, globex_private), **as_acme))
        == "signature"
    )
    assert await refusal(acme, rs256(under_acme_kid, as_acme, globex_private)) == "signature"
    # Only acme's key can sign for acme, and even then the claims must be acme's.
    assert await refusal(acme, rs256(under_acme_kid, claims, acme_private)) == "issuer"
    globex_tenant = {**as_acme, "tenant": globex.id}
    assert await refusal(acme, rs256(under_acme_kid, globex_tenant, acme_private)) == "tenant"


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.", "W10.e30.", "x" * 9000],
)
async def test_malformed_tokens_are_refused(acme: TenantRecord, token: str) -> None:
    assert await refusal(acme, token) in ("malformed", "algorithm")


async def test_a_critical_header_extension_is_refused(acme: TenantRecord) -> None:
    token, claims = await issue(acme)
    header, _, _ = parts(token)
    _, private = await signing_key(acme)
    forged = rs256({**header, "crit": ["exp"]}, claims, private)
    assert await refusal(acme, forged) == "malformed"


async def test_verification_needs_the_tokens_tenant_scope(
    acme: TenantRecord, globex: TenantRecord
) -> None:
    token, _ = await issue(acme)
    async with tenant_scope(globex):
        with pytest.raises(RuntimeError, match="tenant scope"):
            await verify_access_token(acme, token)
