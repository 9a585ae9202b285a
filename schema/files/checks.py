"""What an upload must be: a safe name, and content of an accepted type whatever its name
or its sender claim.

The type is detected from the first bytes with ``filetype`` (signatures only, no
dependencies, deterministic): an executable or an HTML page named ``.pdf`` is detected as
what it is, or as nothing, and refused. The name's extension and the content type the
client claimed must agree with what was detected, so a file is never served under a name
that tells the user's system to open it as something else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from enum import StrEnum
from pathlib import PurePosixPath

import filetype

from schema.core.errors import FieldError


class UploadCode(StrEnum):
    FILE_EMPTY = "FILE_EMPTY"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_TYPE_NOT_ACCEPTED = "FILE_TYPE_NOT_ACCEPTED"
    FILE_NAME_INVALID = "FILE_NAME_INVALID"


# Every code an upload can be refused with, for a mutation's error enum.
UPLOAD_CODES: tuple[UploadCode, ...] = tuple(UploadCode)

# The types callers may accept, with the extensions a name of each may have (the first is
# added to a name that has none).
MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
}
# What filetype reads to detect a type.
HEAD_BYTES = 8192
MAX_NAME_LENGTH = 255
# Claims that say nothing about the type (curl's default for unknown extensions).
_NO_CLAIM = frozenset({"", "application/octet-stream"})
# Control and format characters (NUL, newlines, right-to-left overrides that disguise an
# extension), and line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def detect(head: bytes) -> str | None:
    """The media type the first bytes show, or None when they show none filetype knows."""
    kind = filetype.guess(bytes(head[:HEAD_BYTES]))
    return kind.mime if kind is not None else None


def check_accepted(accepted: Collection[str]) -> None:
    """A caller's mistake, not the uploader's: accepting a type no check exists for."""
    unknown = sorted(set(accepted) - MEDIA_TYPES.keys())
    if unknown or not accepted:
        raise ValueError(f"accepted types must be some of {sorted(MEDIA_TYPES)}: got {unknown}")


def name_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be a file's name, or None."""
    if not name:
        return "the file has no name"
    if len(name) > MAX_NAME_LENGTH:
        return f"the file's name is longer than {MAX_NAME_LENGTH} characters"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "the file's name must not contain a path"
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in name):
        return "the file's name contains control characters"
    return None


def type_problem(
    name: str, claimed: str | None, detected: str | None, accepted: Collection[str]
) -> str | None:
    """Why content of type ``detected``, named ``name`` and sent as ``claimed``, is not
    accepted, or None."""
    if detected not in accepted:
        kinds = ", ".join(sorted(accepted))
        return f"the file's content is not of an accepted type ({kinds})"
    extension = PurePosixPath(name).suffix.lower()
    if extension and extension not in MEDIA_TYPES[detected]:
        return f"the file's name ends in {extension[:20]!r} but its content is {detected}"
    claim = (claimed or "").split(";", 1)[0].strip().lower()
    if claim not in _NO_CLAIM and claim != detected:
        return f"the file was sent as {claim[:100]!r} but its content is {detected}"
    return None


def normalized(name: str) -> str:
    """A name as checked and stored: without surrounding spaces, in NFC."""
    return unicodedata.normalize("NFC", name.strip())


def stored_name(name: str, media_type: str) -> str:
    """A checked, normalized ``name``, with the type's extension when it has none."""
    if PurePosixPath(name).suffix:
        return name
    extension = MEDIA_TYPES[media_type][0]
    return name[: MAX_NAME_LENGTH - len(extension)] + extension


def problems(
    field: tuple[str, ...],
    name: str | None,
    claimed: str | None,
    head: bytes,
    detected: str | None,
    accepted: Collection[str],
) -> list[FieldError]:
    """Everything wrong with an upload that its (normalized) name, its first bytes and the
    type they show tell."""
    errors = []
    if (name_error := name_problem(name)) is not None:
        errors.append(FieldError(field, UploadCode.FILE_NAME_INVALID, name_error))
    if not head:
        errors.append(FieldError(field, UploadCode.FILE_EMPTY, "the file is empty"))
    elif (type_error := type_problem(name or "", claimed, detected, accepted)) is not None:
        errors.append(FieldError(field, UploadCode.FILE_TYPE_NOT_ACCEPTED, type_error))
    return errors
