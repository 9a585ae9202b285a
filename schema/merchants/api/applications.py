"""Applications over GraphQL: a signed-in user's draft, its submission, withdrawal and
reopening (the owner's alone), the owner's profile edits once admitted, and the lists of
merchants: the tenant's (``merchants:read``) and one's own (``myMerchants``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from schema.core.errors import ErrorCode, PublicError
from schema.core.mutations import mutation_types
from schema.core.pagination import Connection, PageRequest, paginate
from schema.core.permissions import authenticated, limit_to_merchants, principal_of, requires
from schema.core.principal import Principal
from schema.idempotency.api import CODES, IdempotencyKeyArgument, idempotent, rows_of
from schema.identity.models import User
from schema.merchants.api.common import (
    MERCHANTS_READ,
    managed_merchant,
    owned_merchant,
)
from schema.merchants.api.types import MerchantNode, merchant_result
from schema.merchants.errors import Code
from schema.merchants.models import Merchant
from schema.merchants.service import applications as service
from schema.merchants.service.bank_details import BankDetails
from schema.merchants.status import MerchantStatus

MAX_SEARCH_LENGTH = 100


@strawberry.input(name="MerchantAddressInput", description='Parts left out stay; "" clears one.')
class AddressInput:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")


@strawberry.input(
    name="MerchantBankDetailsInput",
    description="An IBAN, or an account number with the bank's code (sort code, routing "
    "number...). Stored sealed; only the last four characters are ever shown.",
)
class BankDetailsInput:
    account_holder: str
    country: str = strawberry.field(description="The bank's country, ISO 3166-1 alpha-2.")
    iban: str | None = None
    account_number: str | None = None
    bank_code: str | None = None


@strawberry.input(
    name="MerchantApplicationInput",
    description='Fields left out stay as they are; "" clears one (not the business name, '
    "which a draft needs). Bank details are replaced as a whole.",
)
class ApplicationInput:
    business_name: str | None = None
    legal_name: str | None = None
    registration_number: str | None = strawberry.field(
        default=None, description="Stored upper case, without spaces."
    )
    category: str | None = None
    description: str | None = strawberry.field(default=None, description="Public.")
    website: str | None = strawberry.field(default=None, description="An http(s) URL.")
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = strawberry.field(
        default=None, description="International form: +44 20 7946 0958."
    )
    address: AddressInput | None = None
    bank_details: BankDetailsInput | None = None

    def changes(self) -> service.ApplicationChanges:
        values = {
            name: getattr(self, name)
            for name in service.ApplicationChanges.__dataclass_fields__
            if name not in ("address", "bank_details")
        }
        address = service.Address(**vars(self.address)) if self.address is not None else None
        bank = BankDetails(**vars(self.bank_details)) if self.bank_details is not None else None
        return service.ApplicationChanges(**values, address=address, bank_details=bank)


@strawberry.input(
    name="MerchantProfileInput",
    description="The public details and contacts of an admitted merchant. Fields left out "
    'stay as they are; "" clears one.',
)
class ProfileInput:
    description: str | None = None
    website: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None

    def changes(self) -> service.ApplicationChanges:
        return service.ApplicationChanges(**vars(self))


@strawberry.input(name="MerchantFilter")
class MerchantFilter:
    status: MerchantStatus | None = None
    category: str | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the business or legal name, or the registration number."
    )


_INPUT = (Code.REQUIRED, Code.INVALID, Code.TOO_LONG)
_MINE = (Code.NOT_FOUND, Code.NOT_OWNER, Code.INVALID_TRANSITION, Code.CONFLICT)

CREATE = mutation_types(
    "merchantApplicationCreate",
    (*_INPUT, Code.CATEGORY_NOT_ACCEPTED, Code.ALREADY_APPLIED, Code.NOT_A_USER, *CODES),
    merchant=MerchantNode,
)
UPDATE = mutation_types(
    "merchantApplicationUpdate",
    (*_INPUT, *_MINE, Code.CATEGORY_NOT_ACCEPTED, Code.NOTHING_TO_CHANGE),
    merchant=MerchantNode,
)
SUBMIT = mutation_types(
    "merchantApplicationSubmit",
    (*_MINE, Code.INCOMPLETE, Code.DOCUMENT_EXPIRED, Code.INVALID, Code.CATEGORY_NOT_ACCEPTED),
    merchant=MerchantNode,
)
WITHDRAW = mutation_types("merchantApplicationWithdraw", (*_INPUT, *_MINE), merchant=MerchantNode)
REOPEN = mutation_types(
    "merchantApplicationReopen", (*_MINE, Code.ALREADY_APPLIED), merchant=MerchantNode
)
PROFILE_UPDATE = mutation_types(
    "merchantProfileUpdate",
    (
        Code.INVALID,
        Code.TOO_LONG,
        Code.NOT_FOUND,
        Code.INVALID_TRANSITION,
        Code.CONFLICT,
        Code.NOTHING_TO_CHANGE,
    ),
    merchant=MerchantNode,
)
MerchantApplicationCreatePayload = CREATE.payload
MerchantApplicationUpdatePayload = UPDATE.payload
MerchantApplicationSubmitPayload = SUBMIT.payload
MerchantApplicationWithdrawPayload = WITHDRAW.payload
MerchantApplicationReopenPayload = REOPEN.payload
MerchantProfileUpdatePayload = PROFILE_UPDATE.payload


Step = Callable[[Merchant, Principal], Awaitable[Merchant]]
Finder = Callable[[Principal, str], Awaitable[Merchant]]


async def _as_owner(
    info: strawberry.Info, global_id: str, step: Step, find: Finder = owned_merchant
) -> Merchant:
    """``step`` taken by the principal on the merchant ``global_id`` names, when they are
    its owner (``owned_merchant``: NOT_FOUND or NOT_OWNER otherwise; or ``find``'s rule)."""
    principal = principal_of(info.context)
    return await step(await find(principal, global_id), principal)


def _filtered(query: QuerySet[Merchant], where: MerchantFilter) -> QuerySet[Merchant]:
    if where.status is not None:
        query = query.filter(status=where.status)
    if where.category is not None:
        query = query.filter(category=where.category)
    if where.search is not None:
        if len(where.search) > MAX_SEARCH_LENGTH:
            raise PublicError(
                f"search is at most {MAX_SEARCH_LENGTH} characters", ErrorCode.BAD_REQUEST
            )
        term = where.search.strip()
        query = query.filter(
            Q(business_name__icontains=term)
            | Q(legal_name__icontains=term)
            | Q(registration_number__icontains=service.normalize_registration_number(term))
        )
    return query


async def _own_query(principal: Principal) -> QuerySet[Merchant]:
    """The merchants the user applied for (drafts too) or works for (``User.merchant_id``)."""
    if principal.user_id is None:  # a client acting as itself applies for nothing
        return Merchant.filter(id__in=[])
    mine = Q(owner_user_id=principal.user_id)
    user = await User.get_or_none(id=principal.user_id).only("id", "merchant_id")
    if user is not None and user.merchant_id is not None:
        mine |= Q(id=user.merchant_id, submitted_at__isnull=False) & ~Q(status=MerchantStatus.DRAFT)
    return Merchant.filter(mine)


@strawberry.type
class ApplicationsQuery:
    @strawberry.field(
        permission_classes=[requires(MERCHANTS_READ)],
        description="The tenant's merchants and applications from submission on (those "
        "of your merchants, if your grant is limited to some), newest first.",
    )
    async def merchants(
        self,
        info: strawberry.Info,
        filter: MerchantFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MerchantNode]:
        principal = principal_of(info.context)
        query = limit_to_merchants(
            Merchant.exclude(status=MerchantStatus.DRAFT).filter(submitted_at__isnull=False),
            principal,
            MERCHANTS_READ,
            field="id",
        )
        if filter is not None:
            query = _filtered(query, filter)
        return await paginate(
            query,
            PageRequest(first=first, after=after, last=last, before=before),
            MerchantNode.from_model,
            newest_first=True,
        )

    @strawberry.field(
        permission_classes=[authenticated],
        description="Your applications (drafts included) and the merchant you work for, "
        "newest first.",
    )
    async def my_merchants(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[MerchantNode]:
        return await paginate(
            await _own_query(principal_of(info.context)),
            PageRequest(first=first, after=after, last=last, before=before),
            MerchantNode.from_model,
            newest_first=True,
        )


@strawberry.type
class ApplicationsMutation:
    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Start an application: a draft, saved with whatever is given (a business "
        "name at least). One open application per user.",
    )
    async def merchant_application_create(
        self,
        info: strawberry.Info,
        input: ApplicationInput,
        idempotency_key: IdempotencyKeyArgument = None,
    ) -> MerchantApplicationCreatePayload:
        principal = principal_of(info.context)
        return await idempotent(
            info,
            CREATE,
            idempotency_key,
            input,
            lambda: service.create_application(input.changes(), principal),
            merchant_result,
            rows_of(Merchant),
        )

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Change your application while it is a draft or sent back for information.",
    )
    async def merchant_application_update(
        self, info: strawberry.Info, id: strawberry.ID, input: ApplicationInput
    ) -> MerchantApplicationUpdatePayload:
        changes = input.changes()
        call = _as_owner(info, id, lambda m, p: service.update_application(m, changes, p))
        return await UPDATE.run(call, merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Submit your application for review. Checked against the current "
        "onboarding standards: every missing or invalid item comes back at once.",
    )
    async def merchant_application_submit(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> MerchantApplicationSubmitPayload:
        return await SUBMIT.run(_as_owner(info, id, service.submit), merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Withdraw your application (final: apply anew later).",
    )
    async def merchant_application_withdraw(
        self, info: strawberry.Info, id: strawberry.ID, reason: str
    ) -> MerchantApplicationWithdrawPayload:
        call = _as_owner(info, id, lambda m, p: service.withdraw(m, reason, p))
        return await WITHDRAW.run(call, merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Make your rejected application a draft again, to correct and resubmit.",
    )
    async def merchant_application_reopen(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> MerchantApplicationReopenPayload:
        return await REOPEN.run(_as_owner(info, id, service.reopen), merchant_result)

    @strawberry.mutation(
        permission_classes=[authenticated],
        description="Change an admitted merchant's public details and contacts: its owner, "
        "or whoever's merchants:manage covers it.",
    )
    async def merchant_profile_update(
        self, info: strawberry.Info, id: strawberry.ID, input: ProfileInput
    ) -> MerchantProfileUpdatePayload:
        changes = input.changes()
        call = _as_owner(
            info, id, lambda m, p: service.update_profile(m, changes, p), find=managed_merchant
        )
        return await PROFILE_UPDATE.run(call, merchant_result)


QUERIES: list[type] = [ApplicationsQuery]
MUTATIONS: list[type] = [ApplicationsMutation]
TYPES: list[type] = []
