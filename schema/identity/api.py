"""GraphQL face of the identity domain: ``QUERIES``, ``MUTATIONS`` and extra ``TYPES`` are
merged into the root schema by ``schema.root``.

Who may do what: registration and the mailed-token flows are public (the token is the
credential), changing one's own password, email or identity documents needs a signed-in
user, and administration needs ``users:manage``, ``users:read``, ``identity:review`` or
``identity:configure``. A principal whose grant is limited to some merchants sees and
changes only the users of those merchants: to it the others do not exist (NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from schema.core.errors import ErrorCode, PublicError, fail
from schema.core.mutations import mutation_types
from schema.core.nodes import Node, register_node, row_id, row_id_of, to_global_id
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import (
    authenticated,
    covers,
    ensure_authenticated,
    ensure_permission,
    limit_to_merchants,
    principal_of,
    public,
    requires,
)
from schema.core.principal import Principal
from schema.idempotency.api import CODES as IDEMPOTENCY_CODES
from schema.idempotency.api import IdempotencyKeyArgument, idempotent, rows_of
from schema.identity import service
from schema.identity.models import (
    DocumentKind,
    IdentityPolicy,
    IdentityStatus,
    IdentityVerification,
    User,
    UserStatus,
    UserType,
)
from schema.identity.policy import PolicyChanges, get_policy, update_policy
from schema.identity.validation import Code

USERS_READ = "users:read"
USERS_MANAGE = "users:manage"
IDENTITY_REVIEW = "identity:review"
IDENTITY_CONFIGURE = "identity:configure"
MAX_SEARCH_LENGTH = 100

strawberry.enum(UserType, name="UserType", description="What kind of person a user is.")
strawberry.enum(UserStatus, name="UserStatus", description="Whether the user may sign in.")
strawberry.enum(
    IdentityStatus, name="IdentityStatus", description="Where identity verification stands."
)
strawberry.enum(DocumentKind, name="DocumentKind", description="What an identity document is.")


@strawberry.type(name="User", description="A person of the tenant.")
class UserNode(Node):
    email: str
    email_verified_at: datetime | None
    phone: str | None = strawberry.field(description="E.164, e.g. +442079460958.")
    full_name: str
    user_type: UserType
    status: UserStatus
    status_reason: str | None = strawberry.field(
        description="Why the user was last deactivated or reactivated."
    )
    status_changed_at: datetime | None
    merchant_id: int | None = strawberry.field(description="Merchant staff: their merchant.")
    identity_status: IdentityStatus
    locked_at: datetime | None = strawberry.field(
        description="Set when too many failed sign-ins locked the account (userUnlock clears it)."
    )
    created_at: datetime
    last_login_at: datetime | None

    @strawberry.field(description="Whether the email address was confirmed.")
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @classmethod
    def from_model(cls, row: User) -> UserNode:
        return cls(
            id=to_global_id("User", row.id),
            email=row.email,
            email_verified_at=row.email_verified_at,
            phone=row.phone,
            full_name=row.full_name,
            user_type=row.user_type,
            status=row.status,
            status_reason=row.status_reason,
            status_changed_at=row.status_changed_at,
            merchant_id=row.merchant_id,
            identity_status=row.identity_status,
            locked_at=row.locked_at,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


@strawberry.type(name="IdentityDocument", description="A document as the user submitted it.")
class IdentityDocumentType:
    kind: DocumentKind
    reference: str = strawberry.field(description="The document's number.")
    file_reference: str = strawberry.field(description="Where the uploaded file is.")


@strawberry.type(
    name="IdentityVerification",
    description="One submission of identity documents and the reviewer's decision on it.",
)
class IdentityVerificationNode(Node):
    user: UserNode
    status: IdentityStatus
    documents: list[IdentityDocumentType]
    submitted_at: datetime
    decided_at: datetime | None
    decided_by: str | None = strawberry.field(description="Who decided, e.g. user:7.")
    reason: str | None

    @classmethod
    def from_model(cls, row: IdentityVerification) -> IdentityVerificationNode:
        """``row`` with its user and documents loaded."""
        return cls(
            id=to_global_id("IdentityVerification", row.id),
            user=UserNode.from_model(row.user),
            status=row.status,
            documents=[
                IdentityDocumentType(
                    kind=d.kind, reference=d.reference, file_reference=d.file_reference
                )
                for d in sorted(row.documents, key=lambda d: d.id)
            ],
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
            reason=row.reason,
        )


@strawberry.type(
    name="IdentityPolicy", description="The tenant's registration, sign-in and password rules."
)
class IdentityPolicyType:
    registration_open: bool
    phone_required: bool
    email_verification_required: bool = strawberry.field(
        description="Whether signing in needs a confirmed email address."
    )
    password_min_length: int
    password_require_lowercase: bool
    password_require_uppercase: bool
    password_require_digit: bool
    password_require_symbol: bool
    throttle_after_failures: int = strawberry.field(
        description="Consecutive failed sign-ins after which each attempt waits longer."
    )
    lockout_after_failures: int = strawberry.field(
        description="Consecutive failed sign-ins that lock the account."
    )
    link_base_url: str | None = strawberry.field(
        description="Where links in mails point (default: /t/<slug>/account)."
    )
    version: int
    updated_at: datetime

    @classmethod
    def from_model(cls, row: IdentityPolicy) -> IdentityPolicyType:
        return cls(**{f: getattr(row, f) for f in cls.__annotations__})


# -- inputs ----------------------------------------------------------------------------


@strawberry.input(name="UserRegisterInput")
class UserRegisterInput:
    email: str
    password: str
    full_name: str
    phone: str | None = strawberry.field(default=None, description="International form.")


@strawberry.input(name="UserCreateInput")
class UserCreateInput:
    email: str
    full_name: str
    user_type: UserType = UserType.USER
    password: str | None = strawberry.field(
        default=None, description="Leave out to mail the user a link to set one."
    )
    email_verified: bool = False
    merchant_id: int | None = None
    phone: str | None = None


@strawberry.input(name="UserFilter")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of the email or name.")
    status: UserStatus | None = None
    user_type: UserType | None = None
    identity_status: IdentityStatus | None = None
    merchant_id: int | None = None
    locked: bool | None = None
    email_verified: bool | None = None


@strawberry.input(name="IdentityDocumentInput")
class IdentityDocumentInput:
    kind: DocumentKind
    reference: str = strawberry.field(description="The document's number.")
    file_reference: str = strawberry.field(description="Where the uploaded file is.")


@strawberry.enum(name="IdentityDecision", description="A reviewer's decision on a submission.")
class IdentityDecision(Enum):
    VERIFY = "verify"
    REJECT = "reject"


@strawberry.input(name="IdentityPolicyInput", description="Only the fields given change.")
class IdentityPolicyInput:
    registration_open: bool | None = None
    phone_required: bool | None = None
    email_verification_required: bool | None = None
    password_min_length: int | None = None
    password_require_lowercase: bool | None = None
    password_require_uppercase: bool | None = None
    password_require_digit: bool | None = None
    password_require_symbol: bool | None = None
    throttle_after_failures: int | None = None
    lockout_after_failures: int | None = None
    link_base_url: str | None = strawberry.field(default=None, description='"" clears it.')


# -- payloads and their errors ---------------------------------------------------------

_INPUT = (Code.REQUIRED, Code.TOO_LONG, Code.INVALID)
_PASSWORD = (
    Code.PASSWORD_TOO_SHORT,
    Code.PASSWORD_TOO_LONG,
    Code.PASSWORD_TOO_COMMON,
    Code.PASSWORD_TOO_SIMILAR,
    Code.PASSWORD_MISSING_CHARACTER_CLASS,
)
_TOKEN = (Code.TOKEN_INVALID, Code.TOKEN_EXPIRED, Code.TOKEN_USED)

USER_REGISTER = mutation_types(
    "userRegister", (*_INPUT, *_PASSWORD, Code.EMAIL_TAKEN, Code.REGISTRATION_CLOSED), user=UserNode
)
USER_CREATE = mutation_types(
    "userCreate",
    (
        *_INPUT, *_PASSWORD, Code.EMAIL_TAKEN, Code.MERCHANT_REQUIRED, Code.MERCHANT_NOT_ALLOWED,
        *IDEMPOTENCY_CODES,
    ),
    user=UserNode,
)  # fmt: skip
USER_EMAIL_VERIFY = mutation_types("userEmailVerify", _TOKEN)
USER_EMAIL_VERIFICATION_REQUEST = mutation_types("userEmailVerificationRequest", _INPUT)
USER_PASSWORD_RESET_REQUEST = mutation_types("userPasswordResetRequest", _INPUT)
USER_PASSWORD_RESET = mutation_types("userPasswordReset", (*_TOKEN, *_PASSWORD))
# Re-authentication: the current password, behind the sign-in's brakes.
_REAUTHENTICATE = (
    Code.WRONG_PASSWORD,
    Code.THROTTLED,
    Code.LOCKED,
    Code.NOT_A_USER,
    Code.NOT_FOUND,
)
USER_PASSWORD_CHANGE = mutation_types("userPasswordChange", (*_PASSWORD, *_REAUTHENTICATE))
USER_EMAIL_CHANGE_REQUEST = mutation_types(
    "userEmailChangeRequest", (*_INPUT, Code.SAME_EMAIL, Code.EMAIL_TAKEN, *_REAUTHENTICATE)
)
USER_EMAIL_CHANGE_CONFIRM = mutation_types("userEmailChangeConfirm", (*_TOKEN, Code.EMAIL_TAKEN))
_STATUS = (*_INPUT, Code.NOT_FOUND, Code.SELF_NOT_ALLOWED)
USER_DEACTIVATE = mutation_types(
    "userDeactivate", (*_STATUS, Code.ALREADY_DEACTIVATED), user=UserNode
)
USER_REACTIVATE = mutation_types("userReactivate", (*_STATUS, Code.NOT_DEACTIVATED), user=UserNode)
USER_UNLOCK = mutation_types(
    "userUnlock", (*_INPUT, Code.NOT_FOUND, Code.NOT_LOCKED), user=UserNode
)
IDENTITY_VERIFICATION_SUBMIT = mutation_types(
    "identityVerificationSubmit",
    (*_INPUT, Code.OUT_OF_RANGE, Code.INVALID_TRANSITION, Code.NOT_A_USER, Code.NOT_FOUND),
    verification=IdentityVerificationNode,
)
IDENTITY_VERIFICATION_DECIDE = mutation_types(
    "identityVerificationDecide",
    (*_INPUT, Code.NOT_FOUND, Code.INVALID_TRANSITION, Code.SELF_NOT_ALLOWED),
    verification=IdentityVerificationNode,
)
IDENTITY_POLICY_UPDATE = mutation_types(
    "identityPolicyUpdate",
    (Code.TOO_LONG, Code.INVALID, Code.OUT_OF_RANGE, Code.NOTHING_TO_CHANGE),
    policy=IdentityPolicyType,
)


# -- object-level rules ----------------------------------------------------------------


def _key(global_id: str, type_name: str) -> int:
    """The row id in a global ID of ``type_name``; NOT_FOUND for any other."""
    found = row_id_of(global_id, type_name)
    if found is None:
        raise fail("id", Code.NOT_FOUND, f"no such {type_name}")
    return found


async def _user_for(principal: Principal, permission: str, global_id: str) -> int:
    """The id of the user ``global_id`` names, if ``permission`` covers them."""
    user = await User.get_or_none(id=_key(global_id, "User")).only("id", "merchant_id")
    if user is None or not covers(principal, permission, user.merchant_id):
        raise fail("id", Code.NOT_FOUND, "no such User")
    return user.id


async def _on_managed_user(
    info: strawberry.Info,
    global_id: str,
    change: Callable[[int, Principal], Awaitable[User]],
) -> User:
    """``change`` applied to the user ``global_id`` names, by the principal, when its
    ``users:manage`` covers that user (NOT_FOUND otherwise)."""
    principal = principal_of(info.context)
    return await change(await _user_for(principal, USERS_MANAGE, global_id), principal)


def _own_user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise fail((), Code.NOT_A_USER, "only a signed-in user can do this for themselves")
    return principal.user_id


async def _user_result(user: User) -> dict[str, Any]:
    return {"user": UserNode.from_model(user)}


async def _policy_result(row: IdentityPolicy) -> dict[str, Any]:
    return {"policy": IdentityPolicyType.from_model(row)}


async def _verification_result(row: IdentityVerification) -> dict[str, Any]:
    await row.fetch_related("user", "documents")
    return {"verification": IdentityVerificationNode.from_model(row)}


# -- nodes -----------------------------------------------------------------------------


async def _fetch_user(key: str, context: Any) -> UserNode | None:
    """Users see themselves; others need users:read covering the user's merchant."""
    principal = ensure_authenticated(context)
    pk = row_id(key)
    own = pk is not None and principal.user_id == pk
    if not own:
        ensure_permission(context, USERS_READ)
    row = await User.get_or_none(id=pk) if pk is not None else None
    if row is None or not (own or covers(principal, USERS_READ, row.merchant_id)):
        return None
    return UserNode.from_model(row)


async def _fetch_verification(key: str, context: Any) -> IdentityVerificationNode | None:
    """Users see their own submissions; reviewers those of the users they cover."""
    principal = ensure_authenticated(context)
    pk = row_id(key)
    row = (
        await IdentityVerification.get_or_none(id=pk).prefetch_related("user", "documents")
        if pk is not None
        else None
    )
    own = row is not None and principal.user_id == row.user.id
    if not own:
        ensure_permission(context, IDENTITY_REVIEW)
    if row is None or not (own or covers(principal, IDENTITY_REVIEW, row.user.merchant_id)):
        return None
    return IdentityVerificationNode.from_model(row)


register_node("User", _fetch_user)
register_node("IdentityVerification", _fetch_verification)


# -- queries ---------------------------------------------------------------------------


def _filtered_users(query: QuerySet[User], where: UserFilter) -> QuerySet[User]:
    if where.search is not None:
        if len(where.search) > MAX_SEARCH_LENGTH:
            raise PublicError(
                f"search is at most {MAX_SEARCH_LENGTH} characters", ErrorCode.BAD_REQUEST
            )
        term = where.search.strip()
        query = query.filter(Q(email__icontains=term) | Q(full_name__icontains=term))
    exact = {
        "status": where.status,
        "user_type": where.user_type,
        "identity_status": where.identity_status,
        "merchant_id": where.merchant_id,
    }
    query = query.filter(**{f: v for f, v in exact.items() if v is not None})
    if where.locked is not None:
        query = query.filter(locked_at__isnull=not where.locked)
    if where.email_verified is not None:
        query = query.filter(email_verified_at__isnull=not where.email_verified)
    return query


@strawberry.type
class IdentityQuery:
    @strawberry.field(
        permission_classes=[requires(USERS_READ)],
        description="The tenant's users (those of your merchants, if your grant is limited "
        "to some), newest first.",
    )
    async def users(
        self,
        info: strawberry.Info,
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[UserNode]:
        query = limit_to_merchants(User.all(), principal_of(info.context), USERS_READ)
        if filter is not None:
            query = _filtered_users(query, filter)
        return await paginate(
            query,
            PageRequest(first=first, after=after, last=last, before=before),
            UserNode.from_model,
            newest_first=True,
        )

    @strawberry.field(
        permission_classes=[requires(IDENTITY_REVIEW)],
        description="Identity verification submissions, oldest first (the review queue).",
    )
    async def identity_verifications(
        self,
        info: strawberry.Info,
        status: IdentityStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[IdentityVerificationNode]:
        query = limit_to_merchants(
            IdentityVerification.all(),
            principal_of(info.context),
            IDENTITY_REVIEW,
            field="user__merchant_id",
        )
        if status is not None:
            query = query.filter(status=status)
        return await paginate(
            query.prefetch_related("user", "documents"),
            PageRequest(first=first, after=after, last=last, before=before),
            IdentityVerificationNode.from_model,
        )

    @strawberry.field(
        permission_classes=[requires(IDENTITY_CONFIGURE)],
        description="The tenant's registration, sign-in and password rules.",
    )
    async def identity_policy(self) -> IdentityPolicyType:
        return IdentityPolicyType.from_model(await get_policy())


# -- mutations -------------------------------------------------------------------------


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(
        permission_classes=[public],
        description="Register with email and password; a verification link is mailed.",
    )
    async def user_register(self, input: UserRegisterInput) -> USER_REGISTER.payload:
        new = service.NewUser(input.email, input.full_name, input.password, input.phone)
        return await USER_REGISTER.run(service.register(new), _user_result)

    @strawberry.mutation(
        permission_classes=[requires(USERS_MANAGE)],
        description="Create a user (without a password, they are mailed a link to set one).",
    )
    async def user_create(
        self,
        info: strawberry.Info,
        input: UserCreateInput,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> USER_CREATE.payload:
        if not covers(principal_of(info.context), USERS_MANAGE, input.merchant_id):
            raise PublicError(
                f"this needs the {USERS_MANAGE!r} permission for this merchant",
                ErrorCode.FORBIDDEN,
            )
        return await idempotent(
            info,
            USER_CREATE,
            idempotency_key,
            input,
            lambda: service.create_user(
                input.email,
                input.full_name,
                user_type=input.user_type,
                password=input.password,
                email_verified=input.email_verified,
                merchant_id=input.merchant_id,
                phone=input.phone,
            ),
            _user_result,
            rows_of(User),
        )

    @strawberry.mutation(
        permission_classes=[public], description="Confirm an email address with the mailed token."
    )
    async def user_email_verify(self, token: str) -> USER_EMAIL_VERIFY.payload:
        return await USER_EMAIL_VERIFY.run(service.verify_email(token))

    @strawberry.mutation(
        permission_classes=[public],
        description="Mail a new verification link. Answers the same whether or not the "
        "address has an account.",
    )
    async def user_email_verification_request(
        self, email: str
    ) -> USER_EMAIL_VERIFICATION_REQUEST.payload:
        return await USER_EMAIL_VERIFICATION_REQUEST.run(service.request_email_verification(email))

    @strawberry.mutation(
        permission_classes=[public],
        description="Mail a password reset link. Answers the same whether or not the "
        "address has an account.",
    )
    async def user_password_reset_request(self, email: str) -> USER_PASSWORD_RESET_REQUEST.payload:
        return await USER_PASSWORD_RESET_REQUEST.run(service.request_password_reset(email))

    @strawberry.mutation(
        permission_classes=[public], description="Set a new password with the mailed token."
    )
    async def user_password_reset(
        self, token: str, new_password: str
    ) -> USER_PASSWORD_RESET.payload:
        return await USER_PASSWORD_RESET.run(service.reset_password(token, new_password))

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Change your password; needs the current one.",
    )
    async def user_password_change(
        self, info: strawberry.Info, current_password: str, new_password: str
    ) -> USER_PASSWORD_CHANGE.payload:
        async def change() -> User:
            user_id = _own_user_id(principal_of(info.context))
            return await service.change_password(
                user_id,
                current_password,
                new_password,
                source_address=info.context.source_address,
            )

        return await USER_PASSWORD_CHANGE.run(change())

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Ask to change your email: a link is mailed to the new address, which "
        "takes over once confirmed. Needs your password.",
    )
    async def user_email_change_request(
        self, info: strawberry.Info, new_email: str, current_password: str
    ) -> USER_EMAIL_CHANGE_REQUEST.payload:
        async def request() -> None:
            user_id = _own_user_id(principal_of(info.context))
            await service.request_email_change(
                user_id, new_email, current_password, source_address=info.context.source_address
            )

        return await USER_EMAIL_CHANGE_REQUEST.run(request())

    @strawberry.mutation(
        permission_classes=[public],
        description="Confirm a new email address with the token mailed to it.",
    )
    async def user_email_change_confirm(self, token: str) -> USER_EMAIL_CHANGE_CONFIRM.payload:
        return await USER_EMAIL_CHANGE_CONFIRM.run(service.confirm_email_change(token))

    @strawberry.mutation(
        permission_classes=[requires(USERS_MANAGE)],
        description="Deactivate a user: they can no longer sign in.",
    )
    async def user_deactivate(
        self, info: strawberry.Info, id: strawberry.ID, reason: str
    ) -> USER_DEACTIVATE.payload:
        call = _on_managed_user(
            info, id, lambda user_id, admin: service.deactivate(user_id, reason, actor=admin)
        )
        return await USER_DEACTIVATE.run(call, _user_result)

    @strawberry.mutation(
        permission_classes=[requires(USERS_MANAGE)],
        description="Reactivate a deactivated user.",
    )
    async def user_reactivate(
        self, info: strawberry.Info, id: strawberry.ID, reason: str
    ) -> USER_REACTIVATE.payload:
        call = _on_managed_user(
            info, id, lambda user_id, admin: service.reactivate(user_id, reason, actor=admin)
        )
        return await USER_REACTIVATE.run(call, _user_result)

    @strawberry.mutation(
        permission_classes=[requires(USERS_MANAGE)],
        description="Unlock an account locked by failed sign-ins, and clear its failures.",
    )
    async def user_unlock(
        self, info: strawberry.Info, id: strawberry.ID, reason: str | None = None
    ) -> USER_UNLOCK.payload:
        call = _on_managed_user(info, id, lambda user_id, _: service.unlock(user_id, reason=reason))
        return await USER_UNLOCK.run(call, _user_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Submit your identity documents for review.",
    )
    async def identity_verification_submit(
        self, info: strawberry.Info, documents: list[IdentityDocumentInput]
    ) -> IDENTITY_VERIFICATION_SUBMIT.payload:
        async def submit() -> IdentityVerification:
            user_id = _own_user_id(principal_of(info.context))
            given = [
                service.DocumentSubmission(d.kind, d.reference, d.file_reference) for d in documents
            ]
            return await service.submit_identity(user_id, given)

        return await IDENTITY_VERIFICATION_SUBMIT.run(submit(), _verification_result)

    @strawberry.mutation(
        permission_classes=[requires(IDENTITY_REVIEW)],
        description="Verify or reject a submission (a rejection needs a reason).",
    )
    async def identity_verification_decide(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        decision: IdentityDecision,
        reason: str | None = None,
    ) -> IDENTITY_VERIFICATION_DECIDE.payload:
        async def decide() -> IdentityVerification:
            principal = principal_of(info.context)
            row = await IdentityVerification.get_or_none(
                id=_key(id, "IdentityVerification")
            ).prefetch_related("user")
            if row is None or not covers(principal, IDENTITY_REVIEW, row.user.merchant_id):
                raise fail("id", Code.NOT_FOUND, "no such IdentityVerification")
            verified = decision is IdentityDecision.VERIFY
            return await service.decide_identity(
                row.id, verified=verified, reason=reason, actor=principal
            )

        return await IDENTITY_VERIFICATION_DECIDE.run(decide(), _verification_result)

    @strawberry.mutation(
        permission_classes=[requires(IDENTITY_CONFIGURE)],
        description="Change the tenant's registration, sign-in and password rules.",
    )
    async def identity_policy_update(
        self, info: strawberry.Info, input: IdentityPolicyInput
    ) -> IDENTITY_POLICY_UPDATE.payload:
        changes = PolicyChanges(**vars(input))
        call = update_policy(changes, actor=principal_of(info.context).subject)
        return await IDENTITY_POLICY_UPDATE.run(call, _policy_result)


QUERIES: list[type] = [IdentityQuery]
MUTATIONS: list[type] = [IdentityMutation]
TYPES: list[type] = [UserNode, IdentityVerificationNode]
