"""The identity GraphQL API: payload errors, permissions, merchant-limited visibility."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from schema.core.engine import GraphQLEngine, GraphQLRequest
from schema.core.limits import QueryLimits
from schema.core.nodes import to_global_id
from schema.core.principal import ANONYMOUS, Principal, PrincipalKind
from schema.identity.models import (
    DocumentKind,
    IdentityPolicy,
    IdentityStatus,
    User,
    UserStatus,
    UserType,
)
from schema.identity.service import DocumentSubmission, create_user, submit_identity
from schema.root import build_schema
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.identity.conftest import PASSWORD, mails, outbox_count
from tests.schema.principals import context_for, user_with
from tests.schema.test_permissions import root_declarations

REGISTER = """
mutation R($input: UserRegisterInput!) {
  userRegister(input: $input) {
    user { id email fullName phone userType status emailVerified identityStatus }
    errors { field message code }
  }
}"""
DEACTIVATE = """
mutation D($id: ID!, $reason: String!) {
  userDeactivate(id: $id, reason: $reason) { user { status statusReason } errors { field code } }
}"""
USERS = """
query U($filter: UserFilter, $first: Int) {
  users(filter: $filter, first: $first) { nodes { email merchantId } pageInfo { hasNextPage } }
}"""


@cache
def engine() -> GraphQLEngine:
    return GraphQLEngine(build_schema(), QueryLimits(), introspection=True)


async def run(
    tenant: TenantRecord,
    query: str,
    principal: Principal = ANONYMOUS,
    **variables: Any,
) -> dict[str, Any]:
    async with tenant_scope(tenant):
        response = await engine().run(
            GraphQLRequest(query, variables), context_for(tenant, principal)
        )
    payload = response.payload
    payload.pop("extensions", None)
    return payload


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in payload.get("errors", [])]


def gid(user: User) -> str:
    return to_global_id("User", user.id)


async def users_in(tenant: TenantRecord) -> list[tuple[str, UserStatus]]:
    async with tenant_scope(tenant):
        return [(u.email, u.status) for u in await User.all().order_by("id")]


async def seed(tenant: TenantRecord) -> dict[str, User]:
    """A tenant user, two staff of merchant 1 and one of merchant 2."""
    async with tenant_scope(tenant):
        return {
            "tenant": await create_user("t@example.com", "Tess", password=PASSWORD),
            "m1a": await create_user(
                "m1a@example.com", "Ann", user_type=UserType.MERCHANT_STAFF, merchant_id=1
            ),
            "m1b": await create_user(
                "m1b@example.com", "Ben", user_type=UserType.MERCHANT_STAFF, merchant_id=1
            ),
            "m2": await create_user(
                "m2@example.com", "Cy", user_type=UserType.MERCHANT_STAFF, merchant_id=2
            ),
        }


async def test_register(acme: TenantRecord) -> None:
    payload = await run(
        acme,
        REGISTER,
        input={"email": "Al@Example.com", "password": PASSWORD, "fullName": "Al", "phone": None},
    )
    async with tenant_scope(acme):
        user = await User.get(email="al@example.com")
        sent = [m["template"] for m in await mails()]
    assert payload == {
        "data": {
            "userRegister": {
                "user": {
                    "id": gid(user),
                    "email": "al@example.com",
                    "fullName": "Al",
                    "phone": None,
                    "userType": "USER",
                    "status": "ACTIVE",
                    "emailVerified": False,
                    "identityStatus": "UNVERIFIED",
                },
                "errors": [],
            }
        }
    }
    assert sent == ["verify_email"]


async def test_register_with_bad_input_changes_nothing(acme: TenantRecord) -> None:
    payload = await run(
        acme,
        REGISTER,
        input={"email": "bad", "password": "password", "fullName": "x" * 201, "phone": "+1"},
    )
    assert payload["data"]["userRegister"]["user"] is None
    assert [(e["field"], e["code"]) for e in payload["data"]["userRegister"]["errors"]] == [
        (["email"], "INVALID"),
        (["fullName"], "TOO_LONG"),
        (["phone"], "INVALID"),
        (["password"], "PASSWORD_TOO_COMMON"),
    ]
    assert await users_in(acme) == []
    async with tenant_scope(acme):
        assert await outbox_count() == 0


async def test_closed_registration_is_a_form_level_error(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        await IdentityPolicy.filter(id=1).update(registration_open=False)
    payload = await run(
        acme, REGISTER, input={"email": "al@example.com", "password": PASSWORD, "fullName": "Al"}
    )
    assert payload["data"]["userRegister"]["errors"] == [
        {"field": None, "message": "registration is closed", "code": "REGISTRATION_CLOSED"}
    ]


async def test_token_mutations(acme: TenantRecord) -> None:
    await run(
        acme, REGISTER, input={"email": "al@example.com", "password": PASSWORD, "fullName": "Al"}
    )
    async with tenant_scope(acme):
        token = (await mails())[-1]["params"]["token"]
    verify = "mutation V($t: String!) { userEmailVerify(token: $t) { errors { field code } } }"
    assert await run(acme, verify, t=token) == {"data": {"userEmailVerify": {"errors": []}}}
    assert await run(acme, verify, t=token) == {
        "data": {"userEmailVerify": {"errors": [{"field": ["token"], "code": "TOKEN_USED"}]}}
    }
    request = "mutation Q($e: String!) { userPasswordResetRequest(email: $e) { errors { code } } }"
    known = await run(acme, request, e="al@example.com")
    unknown = await run(acme, request, e="nobody@example.com")
    assert known == unknown == {"data": {"userPasswordResetRequest": {"errors": []}}}
    async with tenant_scope(acme):
        reset_token = (await mails())[-1]["params"]["token"]
    reset = """mutation P($t: String!, $p: String!) {
      userPasswordReset(token: $t, newPassword: $p) { errors { field code } } }"""
    weak = await run(acme, reset, t=reset_token, p="123")
    done = await run(acme, reset, t=reset_token, p="a brand new passphrase")
    assert weak["data"]["userPasswordReset"]["errors"] == [
        {"field": ["newPassword"], "code": "PASSWORD_TOO_SHORT"},
        {"field": ["newPassword"], "code": "PASSWORD_TOO_COMMON"},
    ]
    assert done == {"data": {"userPasswordReset": {"errors": []}}}


async def test_own_account_mutations_need_a_signed_in_user(acme: TenantRecord) -> None:
    users = await seed(acme)
    change = """mutation C($c: String!, $n: String!) {
      userPasswordChange(currentPassword: $c, newPassword: $n) { errors { field code } } }"""
    anonymous = await run(acme, change, c=PASSWORD, n="a brand new passphrase")
    client = Principal(PrincipalKind.CLIENT, client_id="integration", scopes=frozenset({"*"}))
    as_client = await run(acme, change, client, c=PASSWORD, n="a brand new passphrase")
    me = user_with(user_id=users["tenant"].id)
    wrong = await run(acme, change, me, c="nope", n="a brand new passphrase")
    ok = await run(acme, change, me, c=PASSWORD, n="a brand new passphrase")
    assert anonymous["data"] is None
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert as_client["data"]["userPasswordChange"]["errors"] == [
        {"field": None, "code": "NOT_A_USER"}
    ]
    assert wrong["data"]["userPasswordChange"]["errors"] == [
        {"field": ["currentPassword"], "code": "WRONG_PASSWORD"}
    ]
    assert ok == {"data": {"userPasswordChange": {"errors": []}}}


async def test_change_of_email(acme: TenantRecord) -> None:
    users = await seed(acme)
    me = user_with(user_id=users["tenant"].id)
    request = """mutation E($e: String!, $p: String!) {
      userEmailChangeRequest(newEmail: $e, currentPassword: $p) { errors { field code } } }"""
    taken = await run(acme, request, me, e="m2@example.com", p=PASSWORD)
    asked = await run(acme, request, me, e="tess@example.com", p=PASSWORD)
    async with tenant_scope(acme):
        token = (await mails())[-1]["params"]["token"]
    confirm = "mutation F($t: String!) { userEmailChangeConfirm(token: $t) { errors { code } } }"
    confirmed = await run(acme, confirm, t=token)
    assert taken["data"]["userEmailChangeRequest"]["errors"] == [
        {"field": ["newEmail"], "code": "EMAIL_TAKEN"}
    ]
    assert asked == {"data": {"userEmailChangeRequest": {"errors": []}}}
    assert confirmed == {"data": {"userEmailChangeConfirm": {"errors": []}}}
    assert (await users_in(acme))[0] == ("tess@example.com", UserStatus.ACTIVE)


async def test_deactivate_needs_users_manage_and_changes_nothing_without(
    acme: TenantRecord,
) -> None:
    users = await seed(acme)
    target = gid(users["tenant"])
    before = await users_in(acme)
    anonymous = await run(acme, DEACTIVATE, id=target, reason="r")
    reader = await run(acme, DEACTIVATE, user_with("users:read"), id=target, reason="r")
    assert anonymous["data"] is reader["data"] is None
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert error_codes(reader) == ["FORBIDDEN"]
    assert await users_in(acme) == before
    admin = user_with("users:manage", user_id=999)
    done = await run(acme, DEACTIVATE, admin, id=target, reason="left")
    again = await run(acme, DEACTIVATE, admin, id=target, reason="left")
    assert done == {
        "data": {
            "userDeactivate": {
                "user": {"status": "DEACTIVATED", "statusReason": "left"},
                "errors": [],
            }
        }
    }
    assert again["data"]["userDeactivate"] == {
        "user": None,
        "errors": [{"field": ["id"], "code": "ALREADY_DEACTIVATED"}],
    }
    reactivate = """mutation A($id: ID!) { userReactivate(id: $id, reason: "back") {
      user { status } errors { code } } }"""
    back = await run(acme, reactivate, admin, id=target)
    assert back == {"data": {"userReactivate": {"user": {"status": "ACTIVE"}, "errors": []}}}


async def test_a_merchant_limited_admin_manages_only_its_merchants_users(
    acme: TenantRecord,
) -> None:
    users = await seed(acme)
    admin = user_with("users:manage", user_id=999, merchant_id=1)
    results = {}
    for key in ("tenant", "m2", "m1a"):
        payload = await run(acme, DEACTIVATE, admin, id=gid(users[key]), reason="r")
        results[key] = payload["data"]["userDeactivate"]["errors"]
    assert results == {
        "tenant": [{"field": ["id"], "code": "NOT_FOUND"}],
        "m2": [{"field": ["id"], "code": "NOT_FOUND"}],
        "m1a": [],
    }
    assert [s for _, s in await users_in(acme)] == [
        UserStatus.ACTIVE,
        UserStatus.DEACTIVATED,
        UserStatus.ACTIVE,
        UserStatus.ACTIVE,
    ]


async def test_ids_of_another_type_or_malformed(acme: TenantRecord) -> None:
    admin = user_with("users:manage", user_id=999)
    other_type = await run(
        acme, DEACTIVATE, admin, id=to_global_id("SettingsChange", 1), reason="r"
    )
    malformed = await run(acme, DEACTIVATE, admin, id="%%%", reason="r")
    huge_id = to_global_id("User", 10**12)
    huge = await run(acme, DEACTIVATE, admin, id=huge_id, reason="r")
    arabic = await run(acme, DEACTIVATE, admin, id=to_global_id("User", chr(0x661)), reason="r")
    reader = user_with("users:read")
    node = await run(acme, "query N($id: ID!) { node(id: $id) { id } }", reader, id=huge_id)
    for payload in (other_type, huge, arabic):
        assert payload["data"]["userDeactivate"]["errors"] == [
            {"field": ["id"], "code": "NOT_FOUND"}
        ]
    assert error_codes(malformed) == ["BAD_REQUEST"]
    assert node == {"data": {"node": None}}


async def test_unlock(acme: TenantRecord) -> None:
    users = await seed(acme)
    unlock = """mutation L($id: ID!) { userUnlock(id: $id) {
      user { lockedAt } errors { field code } } }"""
    admin = user_with("users:manage", user_id=999)
    not_locked = await run(acme, unlock, admin, id=gid(users["tenant"]))
    async with tenant_scope(acme):
        await User.filter(id=users["tenant"].id).update(locked_at=users["tenant"].created_at)
    unlocked = await run(acme, unlock, admin, id=gid(users["tenant"]))
    assert not_locked["data"]["userUnlock"]["errors"] == [{"field": ["id"], "code": "NOT_LOCKED"}]
    assert unlocked == {"data": {"userUnlock": {"user": {"lockedAt": None}, "errors": []}}}


async def test_users_list_filters_and_merchant_limits(acme: TenantRecord) -> None:
    users = await seed(acme)
    async with tenant_scope(acme):
        await User.filter(id=users["m1b"].id).update(locked_at=users["m1b"].created_at)
    reader = user_with("users:read")
    limited = user_with("users:read", merchant_id=1)

    async def emails(principal: Principal, **filter: Any) -> list[str]:
        payload = await run(acme, USERS, principal, filter=filter or None)
        return [n["email"] for n in payload["data"]["users"]["nodes"]]

    assert await emails(reader) == [
        "m2@example.com",
        "m1b@example.com",
        "m1a@example.com",
        "t@example.com",
    ]
    assert await emails(limited) == ["m1b@example.com", "m1a@example.com"]
    assert await emails(limited, merchantId=2) == []
    assert await emails(reader, search="BEN") == ["m1b@example.com"]
    assert await emails(reader, search="%") == []  # a wildcard is a character here
    assert await emails(reader, search="m1") == ["m1b@example.com", "m1a@example.com"]
    assert await emails(reader, locked=True) == ["m1b@example.com"]
    assert await emails(reader, userType="USER") == ["t@example.com"]
    assert await emails(reader, emailVerified=True) == []
    assert await emails(reader, identityStatus="UNVERIFIED", status="ACTIVE") == [
        "m2@example.com",
        "m1b@example.com",
        "m1a@example.com",
        "t@example.com",
    ]
    refused = await run(acme, USERS, user_with("users:manage"))
    too_long = await run(acme, USERS, reader, filter={"search": "x" * 101})
    assert error_codes(refused) == ["FORBIDDEN"]
    assert error_codes(too_long) == ["BAD_REQUEST"]


async def test_user_node(acme: TenantRecord) -> None:
    users = await seed(acme)
    query = "query N($id: ID!) { node(id: $id) { ... on User { email } } }"
    own = await run(acme, query, user_with(user_id=users["m2"].id), id=gid(users["m2"]))
    other = await run(acme, query, user_with(user_id=users["m2"].id), id=gid(users["m1a"]))
    limited = user_with("users:read", merchant_id=1)
    visible = await run(acme, query, limited, id=gid(users["m1a"]))
    hidden = await run(acme, query, limited, id=gid(users["m2"]))
    assert own == {"data": {"node": {"email": "m2@example.com"}}}
    assert error_codes(other) == ["FORBIDDEN"]
    assert visible == {"data": {"node": {"email": "m1a@example.com"}}}
    assert hidden == {"data": {"node": None}}


async def test_user_create(acme: TenantRecord) -> None:
    create = """mutation C($input: UserCreateInput!) {
      userCreate(input: $input) { user { email userType merchantId } errors { field code } } }"""
    limited = user_with("users:manage", merchant_id=1)
    staff = {"email": "s@example.com", "fullName": "S", "userType": "MERCHANT_STAFF"}
    elsewhere = await run(acme, create, limited, input={**staff, "merchantId": 2})
    tenant_wide = await run(
        acme, create, limited, input={"email": "u@example.com", "fullName": "U"}
    )
    assert error_codes(elsewhere) == error_codes(tenant_wide) == ["FORBIDDEN"]
    assert await users_in(acme) == []
    missing = await run(acme, create, user_with("users:manage"), input=staff)
    made = await run(acme, create, limited, input={**staff, "merchantId": 1})
    assert missing["data"]["userCreate"]["errors"] == [
        {"field": ["merchantId"], "code": "MERCHANT_REQUIRED"}
    ]
    assert made == {
        "data": {
            "userCreate": {
                "user": {"email": "s@example.com", "userType": "MERCHANT_STAFF", "merchantId": 1},
                "errors": [],
            }
        }
    }
    async with tenant_scope(acme):
        assert [m["template"] for m in await mails()] == ["set_password"]


SUBMIT = """mutation S($docs: [IdentityDocumentInput!]!) {
  identityVerificationSubmit(documents: $docs) {
    verification { id status user { email } documents { kind reference fileReference } }
    errors { field code }
  }
}"""
DECIDE = """mutation D($id: ID!, $decision: IdentityDecision!, $reason: String) {
  identityVerificationDecide(id: $id, decision: $decision, reason: $reason) {
    verification { status decidedBy reason } errors { field code }
  }
}"""
QUEUE = """query Q($status: IdentityStatus) {
  identityVerifications(status: $status) { nodes { user { email } status } }
}"""


async def test_identity_verification(acme: TenantRecord) -> None:
    users = await seed(acme)
    me = user_with(user_id=users["m1a"].id)
    bad = await run(
        acme,
        SUBMIT,
        me,
        docs=[{"kind": "PASSPORT", "reference": "", "fileReference": "f"}],
    )
    assert bad["data"]["identityVerificationSubmit"] == {
        "verification": None,
        "errors": [{"field": ["documents", "0", "reference"], "code": "REQUIRED"}],
    }
    submitted = await run(
        acme,
        SUBMIT,
        me,
        docs=[{"kind": "NATIONAL_ID", "reference": "ID-1", "fileReference": "uploads/id.jpg"}],
    )
    verification = submitted["data"]["identityVerificationSubmit"]["verification"]
    assert verification["status"] == "SUBMITTED"
    assert verification["user"] == {"email": "m1a@example.com"}
    assert verification["documents"] == [
        {"kind": "NATIONAL_ID", "reference": "ID-1", "fileReference": "uploads/id.jpg"}
    ]
    other_merchant = user_with("identity:review", user_id=900, merchant_id=2)
    reviewer = user_with("identity:review", user_id=901)
    assert await run(acme, QUEUE, other_merchant, status="SUBMITTED") == {
        "data": {"identityVerifications": {"nodes": []}}
    }
    assert await run(acme, QUEUE, reviewer, status="SUBMITTED") == {
        "data": {
            "identityVerifications": {
                "nodes": [{"user": {"email": "m1a@example.com"}, "status": "SUBMITTED"}]
            }
        }
    }
    hidden = await run(acme, DECIDE, other_merchant, id=verification["id"], decision="VERIFY")
    no_reason = await run(acme, DECIDE, reviewer, id=verification["id"], decision="REJECT")
    rejected = await run(
        acme, DECIDE, reviewer, id=verification["id"], decision="REJECT", reason="blurred"
    )
    assert hidden["data"]["identityVerificationDecide"]["errors"] == [
        {"field": ["id"], "code": "NOT_FOUND"}
    ]
    assert no_reason["data"]["identityVerificationDecide"]["errors"] == [
        {"field": ["reason"], "code": "REQUIRED"}
    ]
    assert rejected == {
        "data": {
            "identityVerificationDecide": {
                "verification": {
                    "status": "REJECTED",
                    "decidedBy": "user:901",
                    "reason": "blurred",
                },
                "errors": [],
            }
        }
    }
    async with tenant_scope(acme):
        assert (await User.get(id=users["m1a"].id)).identity_status is IdentityStatus.REJECTED


async def test_verification_node(acme: TenantRecord) -> None:
    users = await seed(acme)
    async with tenant_scope(acme):
        row = await submit_identity(
            users["m2"].id, [DocumentSubmission(DocumentKind.PASSPORT, "P1", "f")]
        )
    query = "query N($id: ID!) { node(id: $id) { ... on IdentityVerification { status } } }"
    global_id = to_global_id("IdentityVerification", row.id)
    own = await run(acme, query, user_with(user_id=users["m2"].id), id=global_id)
    stranger = await run(acme, query, user_with(user_id=users["m1a"].id), id=global_id)
    limited = await run(acme, query, user_with("identity:review", merchant_id=1), id=global_id)
    assert own == {"data": {"node": {"status": "SUBMITTED"}}}
    assert error_codes(stranger) == ["FORBIDDEN"]
    assert limited == {"data": {"node": None}}


POLICY = "{ identityPolicy { registrationOpen passwordMinLength lockoutAfterFailures version } }"
POLICY_UPDATE = """mutation P($input: IdentityPolicyInput!) {
  identityPolicyUpdate(input: $input) {
    policy { passwordMinLength passwordRequireDigit version } errors { field code }
  }
}"""


async def test_identity_policy(acme: TenantRecord) -> None:
    configurer = user_with("identity:configure")
    assert error_codes(await run(acme, POLICY, user_with("users:manage"))) == ["FORBIDDEN"]
    assert await run(acme, POLICY, configurer) == {
        "data": {
            "identityPolicy": {
                "registrationOpen": True,
                "passwordMinLength": 8,
                "lockoutAfterFailures": 20,
                "version": 1,
            }
        }
    }
    bad = await run(acme, POLICY_UPDATE, configurer, input={"passwordMinLength": 4})
    nothing = await run(acme, POLICY_UPDATE, configurer, input={})
    ok = await run(
        acme,
        POLICY_UPDATE,
        configurer,
        input={"passwordMinLength": 12, "passwordRequireDigit": True},
    )
    refused = await run(
        acme, POLICY_UPDATE, user_with("users:manage"), input={"passwordMinLength": 9}
    )
    assert bad["data"]["identityPolicyUpdate"] == {
        "policy": None,
        "errors": [{"field": ["passwordMinLength"], "code": "OUT_OF_RANGE"}],
    }
    assert nothing["data"]["identityPolicyUpdate"]["errors"] == [
        {"field": None, "code": "NOTHING_TO_CHANGE"}
    ]
    assert ok == {
        "data": {
            "identityPolicyUpdate": {
                "policy": {"passwordMinLength": 12, "passwordRequireDigit": True, "version": 2},
                "errors": [],
            }
        }
    }
    assert error_codes(refused) == ["FORBIDDEN"]
    async with tenant_scope(acme):
        assert (await IdentityPolicy.get(id=1)).password_min_length == 12


@pytest.mark.parametrize(
    ("field", "declared"),
    [
        ("Mutation.userRegister", "public"),
        ("Mutation.userEmailVerify", "public"),
        ("Mutation.userEmailVerificationRequest", "public"),
        ("Mutation.userPasswordResetRequest", "public"),
        ("Mutation.userPasswordReset", "public"),
        ("Mutation.userEmailChangeConfirm", "public"),
        ("Mutation.userEmailChangeRequest", "authenticated"),
        ("Mutation.userPasswordChange", "authenticated"),
        ("Mutation.identityVerificationSubmit", "authenticated"),
        ("Mutation.userCreate", "users:manage"),
        ("Mutation.userDeactivate", "users:manage"),
        ("Mutation.userReactivate", "users:manage"),
        ("Mutation.userUnlock", "users:manage"),
        ("Mutation.identityVerificationDecide", "identity:review"),
        ("Mutation.identityPolicyUpdate", "identity:configure"),
        ("Query.users", "users:read"),
        ("Query.identityVerifications", "identity:review"),
        ("Query.identityPolicy", "identity:configure"),
    ],
)
def test_declared_permissions(field: str, declared: str) -> None:
    assert root_declarations(build_schema())[field] == declared
