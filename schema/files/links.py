"""Signed download links: the only way a stored file is served.

A resolver hands one out (``download_url``) after its own permission check; whoever holds
it may download the file until it expires, five minutes by default. The link names the
tenant's slug and the file's id; its signature is an HMAC-SHA256, under a key derived from
the platform secret, over the tenant's id, the file's id and the expiry. So a link cannot
be stretched, pointed at another file, or used on another tenant (the edge checks it
against the tenant the path resolves to). Links of rotated-out secrets stop working.

Public files (a merchant's logo) may get a link without an expiry (``ttl=None``), which the
edge honours only while the file is public: those links can be cached and embedded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from urllib.parse import urlencode

from schema.files.config import files_config
from schema.files.models import StoredFile
from tenants.scope import current_tenant

KEY_PURPOSE = "files.download-link"
DEFAULT_TTL = timedelta(minutes=5)
_NEVER = "never"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # seconds since 1970, in ASCII digits


class Link(Enum):
    VALID = "valid"
    PERMANENT = "permanent"  # valid, without an expiry: for public files only
    EXPIRED = "expired"
    INVALID = "invalid"


def _signature(key: bytes, tenant_id: str, file_id: int, expires: str) -> str:
    message = f"v1\n{tenant_id}\n{file_id}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def download_url(stored_file: StoredFile, ttl: timedelta | None = DEFAULT_TTL) -> str:
    """A link to ``stored_file`` of the current tenant, valid for ``ttl`` (None: for ever,
    public files only). Hand it out only to someone allowed to read the file."""
    if ttl is None and not stored_file.public:
        raise ValueError("only public files get links without an expiry")
    tenant = current_tenant()
    config = files_config()
    expires = _NEVER if ttl is None else str(int((datetime.now(UTC) + ttl).timestamp()))
    signature = _signature(config.secrets.key(KEY_PURPOSE), tenant.id, stored_file.id, expires)
    query = {"signature": signature}
    if ttl is not None:
        query = {"expires": expires, **query}
    return f"{config.public_url}/t/{tenant.slug}/files/{stored_file.id}?{urlencode(query)}"


def check_link(
    tenant_id: str,
    file_id: int,
    expires: str | None,
    signature: str | None,
    now: datetime | None = None,
) -> Link:
    """What a link's query says about file ``file_id`` of tenant ``tenant_id``."""
    stamp = expires if expires is not None else _NEVER
    if signature is None or not (stamp == _NEVER or _TIMESTAMP.fullmatch(stamp)):
        return Link.INVALID
    given = signature.encode()
    keys = files_config().secrets.keys(KEY_PURPOSE)
    if not any(
        hmac.compare_digest(_signature(key, tenant_id, file_id, stamp).encode(), given)
        for key in keys
    ):
        return Link.INVALID
    if stamp == _NEVER:
        return Link.PERMANENT
    moment = (now or datetime.now(UTC)).timestamp()
    return Link.VALID if moment <= int(stamp) else Link.EXPIRED
