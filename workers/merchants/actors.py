"""``merchants.screen``: the automated review of one submission of an application,
asked for by the submission itself (through the outbox, in its transaction).

Transactional: the findings, the transition and the applicant's mail (an outbox row)
commit together with the job's "done" mark, and the review acts only on a merchant
still SUBMITTED with that submission, so a redelivered or retried job does its work
once (``schema.merchants.service.screening``).
"""

from __future__ import annotations

from schema.merchants.service.screening import SCREEN_ACTOR, screen
from workers.actors import tenant_actor


@tenant_actor(SCREEN_ACTOR)
async def screen_application(merchant_id: int, submission: int) -> None:
    await screen(merchant_id, submission)
