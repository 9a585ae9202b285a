"""Users and principals for the access tests.

Users are made as rows: the access domain reads the ``users`` table and nothing more of
identity."""

from __future__ import annotations

from datetime import datetime

from schema.access.service import access_for_user
from schema.core.principal import Principal, PrincipalKind
from schema.identity.models import User, UserStatus, UserType


async def make_user(
    email: str,
    *,
    user_type: UserType = UserType.TENANT_STAFF,
    merchant_id: int | None = None,
    status: UserStatus = UserStatus.ACTIVE,
    last_login_at: datetime | None = None,
    created_at: datetime | None = None,
) -> User:
    user = await User.create(
        email=email,
        full_name=email.split("@")[0].title(),
        password_hash="not-a-real-hash",
        user_type=user_type,
        merchant_id=merchant_id,
        status=status,
        last_login_at=last_login_at,
    )
    if created_at is not None:  # auto_now_add: set afterwards
        await User.filter(id=user.id).update(created_at=created_at)
    return user


async def principal_of(user: User) -> Principal:
    """The principal a request of ``user`` carries (a token with scope ``*``)."""
    access = await access_for_user(user.id)
    assert access is not None
    return Principal(
        PrincipalKind.USER,
        grants=access.grants,
        user_id=user.id,
        scopes=frozenset({"*"}),
        merchant_id=access.merchant_id,
    )
