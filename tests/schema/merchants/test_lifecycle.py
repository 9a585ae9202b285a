"""The state machine and the one function that moves a merchant through it."""

from __future__ import annotations

import asyncio

import pytest

from schema.audit.models import AuditRecord
from schema.core.errors import DomainError
from schema.core.principal import Principal
from schema.merchants.models import Merchant, MerchantEvent
from schema.merchants.service.lifecycle import note, transition
from schema.merchants.status import (
    CAPABILITIES,
    TRANSITIONS,
    Action,
    Capability,
    MerchantStatus,
    allowed_actions,
    capabilities,
    targets,
)
from tenants.records import TenantRecord
from tenants.scope import tenant_scope
from tests.schema.principals import user_with

S = MerchantStatus
REVIEWER = user_with("merchants:review", user_id=99)


def test_every_status_is_reachable_from_a_draft() -> None:
    reached = {S.DRAFT}
    frontier = [S.DRAFT]
    while frontier:
        status = frontier.pop()
        for action in allowed_actions(status):
            for new in targets(action, status) - reached:
                reached.add(new)
                frontier.append(new)
    assert reached == set(S)


def test_final_statuses_allow_nothing() -> None:
    assert allowed_actions(S.WITHDRAWN) == []
    assert allowed_actions(S.OFFBOARDED) == []


def test_only_active_and_warned_merchants_trade() -> None:
    trading = {s for s in S if Capability.ACCEPT_ORDERS in capabilities(s)}
    assert trading == {S.ACTIVE, S.WARNED}
    assert {s for s in S if Capability.PUBLIC_PROFILE in capabilities(s)} == {S.ACTIVE, S.WARNED}
    assert {s for s in S if Capability.EDIT_APPLICATION in capabilities(s)} == {
        S.DRAFT,
        S.NEEDS_INFORMATION,
    }
    assert capabilities(S.OFFBOARDED) == frozenset()
    assert set(CAPABILITIES) < set(S)


def test_approval_goes_to_the_fee_or_straight_to_the_agreement() -> None:
    assert targets(Action.APPROVE, S.IN_REVIEW) == {S.APPROVED, S.AGREEMENT_PENDING}
    assert targets(Action.APPROVE, S.SUBMITTED) == frozenset()


async def test_transition_moves_records_history_and_audit(
    acme: TenantRecord, draft: Merchant, applicant_principal: Principal
) -> None:
    async with tenant_scope(acme):
        moved = await transition(
            draft, Action.SUBMIT, applicant_principal, reason="ready", submission_count=1
        )
        stored = await Merchant.get(id=draft.id)
        event = await MerchantEvent.get(merchant_id=draft.id)
        audit = await AuditRecord.filter(operation="merchantSubmit").get()
    assert moved.status is S.SUBMITTED
    assert (stored.status, stored.version, stored.submission_count) == (S.SUBMITTED, 2, 1)
    assert (event.action, event.from_status, event.to_status) == ("submit", "draft", "submitted")
    assert (event.actor, event.actor_user_id, event.reason) == (
        applicant_principal.subject,
        applicant_principal.user_id,
        "ready",
    )
    assert audit.targets == f'["Merchant:{draft.id}"]'


async def test_illegal_transitions_are_refused_and_change_nothing(
    acme: TenantRecord, draft: Merchant
) -> None:
    async with tenant_scope(acme):
        for action in Action:
            if (action, S.DRAFT) in TRANSITIONS:
                continue
            with pytest.raises(DomainError) as refused:
                await transition(draft, action, REVIEWER)
            assert [e.code for e in refused.value.errors] == ["INVALID_TRANSITION"]
        stored = await Merchant.get(id=draft.id)
        assert (stored.status, stored.version) == (S.DRAFT, 1)
        assert await MerchantEvent.filter(merchant_id=draft.id).count() == 0


async def test_a_target_the_action_does_not_allow_is_refused(
    acme: TenantRecord, draft: Merchant, applicant_principal: Principal
) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as refused:
            await transition(draft, Action.SUBMIT, applicant_principal, to=S.ACTIVE)
        assert refused.value.errors[0].code == "INVALID_TRANSITION"
        assert (await Merchant.get(id=draft.id)).status is S.DRAFT


async def test_a_stale_copy_cannot_overwrite_a_newer_change(
    acme: TenantRecord, draft: Merchant, applicant_principal: Principal
) -> None:
    async with tenant_scope(acme):
        first, second = await asyncio.gather(Merchant.get(id=draft.id), Merchant.get(id=draft.id))
        await transition(first, Action.SUBMIT, applicant_principal)
        with pytest.raises(DomainError) as refused:
            await transition(second, Action.WITHDRAW, applicant_principal)
        assert refused.value.errors[0].code == "CONFLICT"
        assert (await Merchant.get(id=draft.id)).status is S.SUBMITTED


async def test_note_records_without_moving(
    acme: TenantRecord, draft: Merchant, applicant_principal: Principal
) -> None:
    async with tenant_scope(acme):
        await note(draft, "document_added", applicant_principal, details={"kind": "other"})
        event = await MerchantEvent.get(merchant_id=draft.id)
        assert (await Merchant.get(id=draft.id)).status is S.DRAFT
    assert (event.action, event.from_status, event.to_status) == ("document_added", None, None)
    assert event.details == {"kind": "other"}
