"""What an upload must be, judged from its name, its claimed type and its first bytes."""

from __future__ import annotations

import pytest

from schema.core.errors import FieldError
from schema.files.checks import (
    UPLOAD_CODES,
    check_accepted,
    detect,
    name_problem,
    normalized,
    problems,
    stored_name,
    type_problem,
)
from tests.schema.files.samples import ELF, EXE, HTML, JPEG, PDF, PNG, WEBP

DOCUMENTS = ("application/pdf", "image/png", "image/jpeg")


def test_the_codes_a_mutation_splices_into_its_enum() -> None:
    assert [str(c) for c in UPLOAD_CODES] == [
        "FILE_EMPTY",
        "FILE_TOO_LARGE",
        "FILE_TYPE_NOT_ACCEPTED",
        "FILE_NAME_INVALID",
    ]


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (EXE, "application/x-msdownload"),
        (ELF, "application/x-executable"),
        (HTML, None),
        (b"plain words", None),
    ],
)
def test_the_type_comes_from_the_content(content: bytes, media_type: str | None) -> None:
    assert detect(content) == media_type


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("contract.pdf", None),
        ("Rechnung März 2025.pdf", None),
        ("合同.pdf", None),
        ("a..b.pdf", None),
        (None, "the file has no name"),
        ("", "the file has no name"),
        ("../../etc/passwd", "the file's name must not contain a path"),
        ("dir/contract.pdf", "the file's name must not contain a path"),
        ("C:\\Users\\al\\contract.pdf", "the file's name must not contain a path"),
        ("..", "the file's name must not contain a path"),
        (".", "the file's name must not contain a path"),
        ("contract\x00.exe.pdf", "the file's name contains control characters"),
        ("contract\n.pdf", "the file's name contains control characters"),
        ("invoice\u202efdp.exe", "the file's name contains control characters"),
        ("x" * 252 + ".pdf", "the file's name is longer than 255 characters"),
    ],
)
def test_names(name: str | None, problem: str | None) -> None:
    assert name_problem(name) == problem


def test_a_name_is_stored_trimmed_in_nfc_with_the_types_extension() -> None:
    assert normalized("  Re\u0301sume\u0301.pdf ") == "Résumé.pdf"
    assert stored_name("scan", "image/jpeg") == "scan.jpg"
    assert stored_name("scan.JPEG", "image/jpeg") == "scan.JPEG"
    assert stored_name("x" * 255, "application/pdf") == "x" * 251 + ".pdf"


@pytest.mark.parametrize(
    ("name", "claimed", "detected", "problem"),
    [
        ("a.pdf", "application/pdf", "application/pdf", None),
        ("a.PDF", None, "application/pdf", None),
        ("a.jpeg", "image/jpeg; charset=binary", "image/jpeg", None),
        ("scan", "application/octet-stream", "image/png", None),
        (
            "a.pdf",
            "application/pdf",
            "application/x-msdownload",
            "the file's content is not of an accepted type "
            "(application/pdf, image/jpeg, image/png)",
        ),
        (
            "a.pdf",
            "application/pdf",
            None,
            "the file's content is not of an accepted type "
            "(application/pdf, image/jpeg, image/png)",
        ),
        ("a.pdf", None, "image/png", "the file's name ends in '.pdf' but its content is image/png"),
        ("a.png", "image/jpeg", "image/png",
         "the file was sent as 'image/jpeg' but its content is image/png"),
    ],
)  # fmt: skip
def test_name_claim_and_content_must_agree(
    name: str, claimed: str | None, detected: str | None, problem: str | None
) -> None:
    assert type_problem(name, claimed, detected, DOCUMENTS) == problem


def test_every_problem_is_reported_at_once() -> None:
    found = problems(("file",), "../x.pdf", None, HTML, detect(HTML), DOCUMENTS)
    assert [(e.field, e.code) for e in found] == [
        (("file",), "FILE_NAME_INVALID"),
        (("file",), "FILE_TYPE_NOT_ACCEPTED"),
    ]
    assert problems(("doc",), "x.pdf", None, b"", None, DOCUMENTS) == [
        FieldError(("doc",), "FILE_EMPTY", "the file is empty")
    ]


def test_callers_accept_only_known_types() -> None:
    with pytest.raises(ValueError, match="accepted types must be some of"):
        check_accepted(["text/html"])
    with pytest.raises(ValueError, match="accepted types must be some of"):
        check_accepted([])
    check_accepted(DOCUMENTS)
