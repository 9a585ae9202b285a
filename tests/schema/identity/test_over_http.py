"""The public identity mutations through the real app over HTTP."""

from __future__ import annotations

from pathlib import Path

from schema.identity.models import User
from tenants.scope import tenant_scope
from tests.saas.harness import serve
from tests.schema.identity.conftest import PASSWORD, mails

REGISTER = """mutation R($input: UserRegisterInput!) {
  userRegister(input: $input) { user { email } errors { field code } } }"""
VERIFY = "mutation V($t: String!) { userEmailVerify(token: $t) { errors { field code } } }"


async def test_register_and_verify_over_http(dialect: str, tmp_path: Path) -> None:
    async with serve(dialect, tmp_path / "var") as running:
        acme = await running.add_tenant("acme", "Acme Ltd")
        weak = await running.graphql(
            REGISTER,
            variables={
                "input": {"email": "al@example.com", "password": "12345678", "fullName": "Al"}
            },
        )
        made = await running.graphql(
            REGISTER,
            variables={
                "input": {"email": "al@example.com", "password": PASSWORD, "fullName": "Al"}
            },
        )
        async with tenant_scope(acme):
            token = (await mails())[-1]["params"]["token"]
        verified = await running.graphql(VERIFY, variables={"t": token})
        replayed = await running.graphql(VERIFY, variables={"t": token})
        async with tenant_scope(acme):
            user = await User.get(email="al@example.com")
    assert (weak.status_code, made.status_code, verified.status_code) == (200, 200, 200)
    assert weak.json()["data"]["userRegister"] == {
        "user": None,
        "errors": [{"field": ["password"], "code": "PASSWORD_TOO_COMMON"}],
    }
    assert made.json()["data"]["userRegister"] == {
        "user": {"email": "al@example.com"},
        "errors": [],
    }
    assert verified.json()["data"] == {"userEmailVerify": {"errors": []}}
    assert replayed.json()["data"]["userEmailVerify"]["errors"] == [
        {"field": ["token"], "code": "TOKEN_USED"}
    ]
    assert user.email_verified_at is not None
