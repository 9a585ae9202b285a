"""Storing uploads in a tenant, on both backends: what is refused leaves neither a row nor
a byte behind; what a rolled-back transaction stored is removed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from schema.audit.service import Acting, acting_as
from schema.core.errors import DomainError, FieldError
from schema.files.models import StoredFile
from schema.files.service import discard_file, servable_file, store_upload, sweep_files
from tenants.backends import TENANT_ALIAS
from tenants.records import TenantRecord
from tenants.runtime import Tenancy
from tenants.scope import tenant_scope
from tests.schema.files.samples import ELF, EXE, HTML, PDF, PNG, upload
from tests.schema.principals import user_with
from tests.tenants.helpers import files_under

DOCUMENTS = ("application/pdf", "image/png")
LIMIT = 1024


@pytest.fixture
def root(tenancy: Tenancy) -> Path:
    return tenancy.config.files_root


@pytest.fixture(autouse=True)
def _as_a_user() -> Iterator[None]:
    with acting_as(Acting(user_with(user_id=7))):
        yield


async def store(
    data: bytes, name: str | None, claimed: str | None = None, **options: object
) -> StoredFile:
    kwargs = {"purpose": "merchant_document", "accepted_types": DOCUMENTS, "max_bytes": LIMIT}
    return await store_upload(upload(data, name, claimed), **{**kwargs, **options})  # type: ignore[arg-type]


async def refusal(
    tenant: TenantRecord, data: bytes, name: str | None, claimed: str | None = None
) -> list[FieldError]:
    async with tenant_scope(tenant):
        with pytest.raises(DomainError) as refused:
            await store(data, name, claimed)
        assert await StoredFile.all().count() == 0
    return refused.value.errors


async def test_a_pdf_is_stored_with_what_was_detected(acme: TenantRecord, root: Path) -> None:
    async with tenant_scope(acme):
        row = await store(PDF, "Contract 2025.pdf", "application/pdf")
        stored = await StoredFile.get(id=row.id)
    assert (stored.purpose, stored.filename, stored.media_type, stored.size) == (
        "merchant_document", "Contract 2025.pdf", "application/pdf", len(PDF)
    )  # fmt: skip
    assert (stored.sha256, stored.public, stored.uploaded_by) == (
        hashlib.sha256(PDF).hexdigest(), False, "user:7"
    )  # fmt: skip
    assert files_under(root) == [Path(acme.id, stored.key[:2], stored.key)]
    assert (root / acme.id / stored.key[:2] / stored.key).read_bytes() == PDF


async def test_a_name_without_extension_gets_the_types(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        row = await store(PNG, "logo", public=True, purpose="merchant_logo")
    assert (row.filename, row.media_type, row.public, row.purpose) == (
        "logo.png", "image/png", True, "merchant_logo"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "name", "claimed", "code"),
    [
        (EXE, "invoice.pdf", "application/pdf", "FILE_TYPE_NOT_ACCEPTED"),
        (ELF, "invoice.pdf", None, "FILE_TYPE_NOT_ACCEPTED"),
        (HTML, "invoice.pdf", "application/pdf", "FILE_TYPE_NOT_ACCEPTED"),
        (PNG, "invoice.pdf", None, "FILE_TYPE_NOT_ACCEPTED"),
        (PDF, "invoice.pdf", "text/html", "FILE_TYPE_NOT_ACCEPTED"),
        (b"", "invoice.pdf", "application/pdf", "FILE_EMPTY"),
        (PDF + b"\x00" * LIMIT, "invoice.pdf", None, "FILE_TOO_LARGE"),
        (PDF, "../../invoice.pdf", None, "FILE_NAME_INVALID"),
        (PDF, "in\x00voice.pdf", None, "FILE_NAME_INVALID"),
        (PDF, "", None, "FILE_NAME_INVALID"),
        (PDF, "x" * 256, None, "FILE_NAME_INVALID"),
    ],
)
async def test_refused_uploads_leave_nothing(
    acme: TenantRecord, root: Path, data: bytes, name: str, claimed: str | None, code: str
) -> None:
    [error] = await refusal(acme, data, name, claimed)
    assert (error.field, error.code) == (("file",), code)
    assert files_under(root) == []


async def test_every_problem_is_returned_at_once(acme: TenantRecord) -> None:
    errors = await refusal(acme, EXE + b"\x00" * LIMIT, "a/b.pdf", "application/pdf")
    assert [e.code for e in errors] == [
        "FILE_NAME_INVALID", "FILE_TYPE_NOT_ACCEPTED", "FILE_TOO_LARGE"
    ]  # fmt: skip


async def test_the_limit_holds_while_streaming(acme: TenantRecord, root: Path) -> None:
    """A file whose size nobody counted before (size None): refused once past the
    limit, its partial write removed."""
    big = upload(PDF + b"\x00" * (3 * 64 * 1024), "big.pdf")
    big.size = None
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as refused:
            await store_upload(
                big, purpose="merchant_document", accepted_types=DOCUMENTS, max_bytes=100_000
            )
        assert await StoredFile.all().count() == 0
    assert [(e.field, e.code) for e in refused.value.errors] == [(("file",), "FILE_TOO_LARGE")]
    assert files_under(root) == []


async def test_the_error_path_is_the_callers_field(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(DomainError) as refused:
            await store(b"", "a.pdf", field=("input", "documents", "0"))
    assert refused.value.errors[0].field == ("input", "documents", "0")


async def test_a_file_at_the_limit_is_stored(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        row = await store(PDF + b"\x00" * (LIMIT - len(PDF)), "full.pdf")
    assert row.size == LIMIT


async def upload_then_fail(root: Path, failure: Exception) -> None:
    """Store a file, then fail in the same transaction."""
    async with in_transaction(TENANT_ALIAS):
        await store(PDF, "a.pdf")
        assert len(files_under(root)) == 1
        raise failure


async def test_a_rolled_back_upload_leaves_no_bytes(acme: TenantRecord, root: Path) -> None:
    """A mutation that refuses its input after storing the file: its transaction rolls
    back, the request ends normally, the bytes go with the scope."""
    async with tenant_scope(acme):
        with pytest.raises(DomainError):
            await upload_then_fail(root, DomainError([FieldError(("name",), "REQUIRED", "")]))
        kept = await store(PNG, "b.png")
        assert len(files_under(root)) == 2
    assert files_under(root) == [Path(acme.id, kept.key[:2], kept.key)]


async def crash_after_upload(tenant: TenantRecord, root: Path) -> None:
    async with tenant_scope(tenant):
        await upload_then_fail(root, RuntimeError("the process failed"))


async def test_the_sweeper_removes_what_a_crash_left(acme: TenantRecord, root: Path) -> None:
    """Bytes no row refers to (a scope that failed after the upload), unfinished writes
    and discarded files' bytes go once older than the grace; live files stay."""
    with pytest.raises(RuntimeError, match="the process failed"):
        await crash_after_upload(acme, root)
    async with tenant_scope(acme):
        live = await store(PDF, "live.pdf")
        discarded = await store(PNG, "old.png")
        await discard_file(discarded)
        partial = root / acme.id / live.key[:2] / f".{live.key}.abc.part"
        partial.write_bytes(b"%PDF-")
        assert len(files_under(root)) == 4
        assert await sweep_files() == 0  # all younger than the grace
        assert await sweep_files(datetime.now(UTC) + timedelta(hours=2)) == 2
        assert await servable_file(discarded.id) is None
        assert (await servable_file(live.id)).id == live.id  # type: ignore[union-attr]
    assert files_under(root) == [Path(acme.id, live.key[:2], live.key)]


async def test_discarding_twice_keeps_the_first_time(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        row = await store(PDF, "a.pdf")
        await discard_file(row)
        first = (await StoredFile.get(id=row.id)).deleted_at
        await discard_file(row)
        assert (await StoredFile.get(id=row.id)).deleted_at == first
    assert first is not None


async def test_the_caller_must_name_known_types_and_a_purpose(acme: TenantRecord) -> None:
    async with tenant_scope(acme):
        with pytest.raises(ValueError, match="accepted types"):
            await store(PDF, "a.pdf", accepted_types=("text/html",))
        with pytest.raises(ValueError, match="not a valid purpose"):
            await store(PDF, "a.pdf", purpose="../x")
