"""GraphQL multipart requests (the multipart request spec) at the edge of the real app.

Parsing runs on SQLite only, as in ``test_graphql_http.py``; what an upload leaves in the
database and on disk runs on both backends. After every refused request the same app
must still serve a good one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from schema.files.models import StoredFile
from schema.operator.credentials import create_operator
from tenants.scope import tenant_scope
from tests.saas.harness import GRAPHQL_RESPONSE, AppStarter, RunningApp, error_code
from tests.schema.files.samples import EXE, HTML, PDF, PNG
from tests.schema.files.toy import MAX_FILE_BYTES
from tests.tenants.helpers import files_under

UPLOAD = """mutation Up($file: Upload!, $shared: Boolean! = false) {
  toyUpload(file: $file, shared: $shared) {
    file { filename mediaType size sha256 downloadUrl }
    errors { field code message } } }"""
NAMES = (
    "mutation N($files: [Upload!]!, $note: Upload) { toyUploadNames(files: $files, note: $note) }"
)
REQUEST_CAP = 16 * 1024
Files = dict[str, tuple[str, bytes, str]]


@pytest.fixture
async def acme(start_app: AppStarter, with_uploads: list[Any]) -> AsyncIterator[RunningApp]:
    """SQLite, a low request cap and file count, one tenant ``acme``."""
    overrides = {"SAAS_UPLOAD_MAX_BYTES": str(REQUEST_CAP), "SAAS_UPLOAD_MAX_FILES": "3"}
    async with start_app("sqlite", **overrides) as running:
        await running.add_tenant("acme", "Acme Ltd")
        yield running


async def post_files(
    running: RunningApp,
    files: Files,
    file_map: Any,
    operations: Any = None,
    *,
    url: str = "/t/acme/graphql",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    """A multipart request: ``operations`` (by default UPLOAD with a null file), ``map``,
    then ``files``."""
    operations = operations or {"query": UPLOAD, "variables": {"file": None}}
    data = {
        "operations": operations
        if isinstance(operations, str)
        else orjson.dumps(operations).decode(),
        "map": file_map if isinstance(file_map, str) else orjson.dumps(file_map).decode(),
        **(fields or {}),
    }
    return await running.client.post(
        url, data=data, files=files, headers={"accept": GRAPHQL_RESPONSE}
    )


def uploaded(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["data"]["toyUpload"]


async def assert_still_serving(running: RunningApp) -> None:
    response = await post_files(
        running, {"0": ("a.pdf", PDF, "application/pdf")}, {"0": ["variables.file"]}
    )
    assert uploaded(response)["errors"] == []


# -- files reach resolvers -------------------------------------------------------------


async def test_a_file_reaches_the_mutation_and_is_closed_afterwards(
    acme: RunningApp, with_uploads: list[Any]
) -> None:
    response = await post_files(
        acme, {"0": ("Contract.pdf", PDF, "application/pdf")}, {"0": ["variables.file"]}
    )
    file = uploaded(response)["file"]
    assert (file["filename"], file["mediaType"], file["size"]) == (
        "Contract.pdf", "application/pdf", len(PDF)
    )  # fmt: skip
    assert file["downloadUrl"].startswith("http://localhost:8000/t/acme/files/1?expires=")
    [received] = with_uploads
    assert received.file.closed


async def test_lists_and_optional_files(acme: RunningApp, with_uploads: list[Any]) -> None:
    operations = {"query": NAMES, "variables": {"files": [None, None], "note": None}}
    files: Files = {
        "a": ("one.pdf", PDF, "application/pdf"),
        "b": ("two.png", PNG, "image/png"),
        "c": ("note.pdf", PDF, "application/pdf"),
    }
    file_map = {"a": ["variables.files.0"], "b": ["variables.files.1"], "c": ["variables.note"]}
    response = await post_files(acme, files, file_map, operations)
    assert response.json()["data"] == {"toyUploadNames": ["one.pdf", "two.png", "note.pdf"]}
    assert all(upload.file.closed for upload in with_uploads)


async def test_one_file_may_fill_several_variables(acme: RunningApp) -> None:
    operations = {"query": NAMES, "variables": {"files": [None, None]}}
    response = await post_files(
        acme,
        {"0": ("one.pdf", PDF, "application/pdf")},
        {"0": ["variables.files.0", "variables.files.1"]},
        operations,
    )
    assert response.json()["data"] == {"toyUploadNames": ["one.pdf", "one.pdf"]}


async def test_a_file_is_never_a_plain_value(acme: RunningApp) -> None:
    """In JSON, or inline in the query: refused before any resolver runs."""
    as_json = await acme.graphql(UPLOAD, variables={"file": "JVBERi0xLjc="})
    inline = await acme.graphql('mutation { toyUpload(file: "x") { errors { code } } }')
    assert (as_json.status_code, error_code(as_json)) == (400, "BAD_REQUEST")
    assert as_json.json()["errors"][0]["message"] == (
        "Variable '$file' has invalid value: Expected value of type 'Upload', but encountered "
        "error 'files are sent as parts of a multipart request, never as values'; "
        "found: 'JVBERi0xLjc='."
    )
    assert (inline.status_code, error_code(inline)) == (400, "GRAPHQL_VALIDATION_FAILED")


# -- malformed multipart requests: 400 --------------------------------------------------

ONE_FILE: Files = {"0": ("a.pdf", PDF, "application/pdf")}
TO_FILE = {"0": ["variables.file"]}
LIST = {"query": NAMES, "variables": {"files": [None]}}
HUGE_INDEX = "variables.files." + "9" * 5000


def nowhere(path: str) -> str:
    return f"map path {path[:100]!r} does not lead to a null in operations"


@pytest.mark.parametrize(
    ("operations", "file_map", "files", "message"),
    [
        ("{not json", TO_FILE, ONE_FILE, "operations is not valid JSON"),
        (
            [{"query": UPLOAD}],
            TO_FILE,
            ONE_FILE,
            "operations must be a JSON object (batches are not served)",
        ),
        (None, "[1", ONE_FILE, "map is not valid JSON"),
        (None, ["variables.file"], ONE_FILE, "map must be a JSON object"),
        (
            None,
            {"1": ["variables.file"]},
            ONE_FILE,
            "map names '1', which is no file part of the request",
        ),
        (None, {"0": []}, ONE_FILE, "map['0'] must be a non-empty list of paths"),
        (None, {"0": "variables.file"}, ONE_FILE, "map['0'] must be a non-empty list of paths"),
        (None, {"0": ["file"]}, ONE_FILE, "map path 'file' must start with variables."),
        (None, {"0": ["query"]}, ONE_FILE, "map path 'query' must start with variables."),
        (None, {"0": ["variables.other"]}, ONE_FILE, nowhere("variables.other")),
        (
            {"query": UPLOAD, "variables": {"file": "x"}},
            TO_FILE,
            ONE_FILE,
            nowhere("variables.file"),
        ),
        ({"query": UPLOAD}, TO_FILE, ONE_FILE, nowhere("variables.file")),
        (LIST, {"0": ["variables.files.1"]}, ONE_FILE, nowhere("variables.files.1")),
        (LIST, {"0": ["variables.files.x.y"]}, ONE_FILE, nowhere("variables.files.x.y")),
        (LIST, {"0": [HUGE_INDEX]}, ONE_FILE, nowhere(HUGE_INDEX)),
        (None, TO_FILE, {**ONE_FILE, "1": ONE_FILE["0"]}, "file part '1' is not in map"),
        ({"variables": {"file": None}}, TO_FILE, ONE_FILE, "the request has no query string"),
    ],
)
async def test_malformed_requests_are_400(
    acme: RunningApp, operations: Any, file_map: Any, files: Files, message: str
) -> None:
    response = await post_files(acme, files, file_map, operations)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == message
    assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


def multipart(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    """A body of exactly these parts (name, file name or None for a field, content)."""
    boundary = "b0undary"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


OPERATIONS = orjson.dumps({"query": UPLOAD, "variables": {"file": None}})
MAP = orjson.dumps(TO_FILE)


OPS_PART = ("operations", None, OPERATIONS)
MAP_PART = ("map", None, MAP)
FILE_PART = ("0", "a.pdf", PDF)
TOO_MANY_FIELDS = "Too many fields. Maximum number of fields is 2."


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((MAP_PART, FILE_PART), "the request needs one operations field, before the files"),
        ((OPS_PART, FILE_PART), "the request needs one map field, before the files"),
        ((OPS_PART, MAP_PART, ("0", None, PDF)), TOO_MANY_FIELDS),
        ((OPS_PART, OPS_PART, MAP_PART), TOO_MANY_FIELDS),
        ((OPS_PART, MAP_PART, FILE_PART, FILE_PART), "file part '0' is sent twice"),
        ((OPS_PART, MAP_PART), "map names '0', which is no file part of the request"),
        (
            (("operations", "ops.json", OPERATIONS), MAP_PART, FILE_PART),
            "the request needs one operations field, before the files",
        ),
        (
            (OPS_PART, MAP_PART, *((str(i), "a.pdf", PDF) for i in range(4))),
            "Too many files. Maximum number of files is 3.",
        ),
    ],
)
async def test_malformed_bodies_are_400(
    acme: RunningApp, parts: tuple[tuple[str, str | None, bytes], ...], message: str
) -> None:
    body, content_type = multipart(*parts)
    response = await acme.client.post(
        "/t/acme/graphql",
        content=body,
        headers={"content-type": content_type, "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == message
    await assert_still_serving(acme)


async def test_a_body_that_is_not_multipart_is_400(acme: RunningApp) -> None:
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=x"):
        response = await acme.client.post(
            "/t/acme/graphql", content=b"garbage", headers={"content-type": content_type}
        )
        assert response.status_code == 400
        assert error_code(response) == "BAD_REQUEST"
    await assert_still_serving(acme)


# -- the request cap: 413 ----------------------------------------------------------------


async def test_a_declared_body_over_the_cap_is_413(acme: RunningApp) -> None:
    big = PDF + b"\x00" * REQUEST_CAP
    response = await post_files(acme, {"0": ("big.pdf", big, "application/pdf")}, TO_FILE)
    assert response.status_code == 413
    assert response.json()["errors"][0] == {
        "message": f"the request body is larger than {REQUEST_CAP} bytes",
        "extensions": {"code": "BAD_REQUEST"},
    }
    await assert_still_serving(acme)


async def test_a_streamed_body_over_the_cap_is_413(acme: RunningApp) -> None:
    """No Content-Length (chunked): the cap holds while the parser reads."""
    big = ("0", "big.pdf", PDF + b"\x00" * REQUEST_CAP)
    body, content_type = multipart(OPS_PART, MAP_PART, big)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    response = await acme.client.post(
        "/t/acme/graphql", content=chunks(), headers={"content-type": content_type}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    await assert_still_serving(acme)


# -- where multipart is not served ---------------------------------------------------------


async def test_get_never_reads_a_multipart_body(acme: RunningApp) -> None:
    body, content_type = multipart(OPS_PART, MAP_PART, FILE_PART)
    request = acme.client.build_request(
        "GET",
        "/t/acme/graphql",
        params={"query": "{ tenantSettings { name } }"},
        content=body,
        headers={"content-type": content_type, "accept": GRAPHQL_RESPONSE},
    )
    response = await acme.client.send(request)
    assert response.status_code == 200
    assert response.json()["data"] == {"tenantSettings": {"name": "Acme Ltd"}}


async def test_the_operator_api_takes_no_files(acme: RunningApp) -> None:
    operator = await create_operator("alice", created_by="test")
    body, content_type = multipart(OPS_PART, MAP_PART, FILE_PART)
    response = await acme.client.post(
        "/operator/graphql",
        content=body,
        headers={"content-type": content_type, "authorization": f"Bearer {operator.key}"},
    )
    assert response.status_code == 415
    assert response.json()["errors"][0] == {
        "message": "send the request as application/json in UTF-8",
        "extensions": {"code": "BAD_REQUEST"},
    }


# -- what uploads leave behind, on both backends ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type", "code"),
    [
        ("invoice.pdf", EXE, "application/pdf", "FILE_TYPE_NOT_ACCEPTED"),
        ("invoice.pdf", HTML, "application/pdf", "FILE_TYPE_NOT_ACCEPTED"),
        ("invoice.pdf", b"", "application/pdf", "FILE_EMPTY"),
        ("invoice.pdf", PDF + b"\x00" * MAX_FILE_BYTES, "application/pdf", "FILE_TOO_LARGE"),
        ("../../invoice.pdf", PDF, "application/pdf", "FILE_NAME_INVALID"),
        ("in\\voice.pdf", PDF, "application/pdf", "FILE_NAME_INVALID"),
    ],
)  # fmt: skip
async def test_refused_uploads_leave_no_row_and_no_file(
    dialect: str, start_app: AppStarter, with_uploads: list[Any],
    name: str, content: bytes, content_type: str, code: str,
) -> None:  # fmt: skip
    async with start_app(dialect) as running:
        acme = await running.add_tenant("acme", "Acme Ltd")
        response = await post_files(running, {"0": (name, content, content_type)}, TO_FILE)
        async with tenant_scope(acme):
            rows = await StoredFile.all().count()
        on_disk = files_under(running.tenancy.config.files_root)
    result = uploaded(response)
    assert result["file"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == [(["file"], code)]
    assert (rows, on_disk) == (0, [])
