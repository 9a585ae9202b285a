"""The identity domain's operations (no HTTP, no GraphQL, no permission checks: the API
layer decides who may call what). Everything runs inside ``tenant_scope()``.

Other domains and the edge use: ``authenticate``, ``SignInRefused``/``SignInCode``,
``create_user``; the password functions are in ``schema.identity.passwords``.
"""

from schema.identity.service.accounts import (
    NewUser,
    change_password,
    confirm_email_change,
    create_user,
    deactivate,
    reactivate,
    register,
    request_email_change,
    request_email_verification,
    request_password_reset,
    reset_password,
    verify_email,
)
from schema.identity.service.mail import MAIL_ACTOR
from schema.identity.service.signin import SignInCode, SignInRefused, authenticate, unlock
from schema.identity.service.verification import (
    DocumentSubmission,
    decide_identity,
    submit_identity,
)

__all__ = [
    "MAIL_ACTOR",
    "DocumentSubmission",
    "NewUser",
    "SignInCode",
    "SignInRefused",
    "authenticate",
    "change_password",
    "confirm_email_change",
    "create_user",
    "deactivate",
    "decide_identity",
    "reactivate",
    "register",
    "request_email_change",
    "request_email_verification",
    "request_password_reset",
    "reset_password",
    "submit_identity",
    "unlock",
    "verify_email",
]
