"""GraphQL multipart requests (https://github.com/jaydenseric/graphql-multipart-request-spec):
how files reach mutations.

The body is ``multipart/form-data`` with a field ``operations`` (the GraphQL request, its
file variables null), a field ``map`` (which file part goes where: ``{"0":
["variables.file"]}``) and then the file parts. Each file becomes the variable's value,
a Starlette ``UploadFile`` (kept in memory up to 1 MiB, then in an unnamed temporary file,
both gone once the request's form is closed).

Refused with 400: a body that is not well-formed multipart, more fields than those two,
more files than allowed, a missing or malformed ``operations`` or ``map``, a path that does
not lead to a null variable, a mapped name that is no file part, a file part nobody maps.
Batched operations (a JSON array) are not served, as on the JSON endpoint.

No CSRF token is needed although browsers send such bodies cross-site without asking:
the API authenticates only by the Authorization header, which a cross-site form cannot
set, so a forged request runs anonymously, as the attacker could run it anyway.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

MULTIPART = "multipart/form-data"
_FIELDS = ("operations", "map")


class BadMultipart(ValueError):
    """A multipart request this endpoint cannot serve (400)."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int  # the whole body, files included
    max_files: int
    max_field_bytes: int  # ``operations`` and ``map`` each


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == MULTIPART


async def read_form(
    headers: Headers, stream: AsyncGenerator[bytes, None], limits: UploadLimits
) -> FormData:
    """The parts of the body ``stream`` yields; on any failure the files read so far are
    closed (Starlette's parser does it)."""
    parser = MultiPartParser(
        headers,
        stream,
        max_files=limits.max_files,
        max_fields=len(_FIELDS),
        max_part_size=limits.max_field_bytes,
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise BadMultipart(exc.message) from None


def operations_of(form: FormData) -> dict[str, Any]:
    """The ``operations`` object with each mapped file in its place."""
    operations = _json_field(form, "operations")
    if not isinstance(operations, dict):
        raise BadMultipart("operations must be a JSON object (batches are not served)")
    files = _file_parts(form)
    mapping = _json_field(form, "map")
    if not isinstance(mapping, dict):
        raise BadMultipart("map must be a JSON object")
    for name, paths in mapping.items():
        if name not in files:
            raise BadMultipart(f"map names {name[:100]!r}, which is no file part of the request")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise BadMultipart(f"map[{name[:100]!r}] must be a non-empty list of paths")
        for path in paths:
            _place(operations, path, files[name])
    if unmapped := sorted(files.keys() - mapping.keys()):
        raise BadMultipart(f"file part {unmapped[0][:100]!r} is not in map")
    return operations


def _json_field(form: FormData, name: str) -> Any:
    values = form.getlist(name)
    if len(values) != 1 or not isinstance(values[0], str):
        raise BadMultipart(f"the request needs one {name} field, before the files")
    try:
        return orjson.loads(values[0])
    except orjson.JSONDecodeError:
        raise BadMultipart(f"{name} is not valid JSON") from None


def _file_parts(form: FormData) -> dict[str, UploadFile]:
    files: dict[str, UploadFile] = {}
    for name, value in form.multi_items():
        if name in _FIELDS:
            continue
        if not isinstance(value, UploadFile):
            raise BadMultipart(f"part {name[:100]!r} is not a file")
        if name in files:
            raise BadMultipart(f"file part {name[:100]!r} is sent twice")
        files[name] = value
    return files


def _place(operations: dict[str, Any], path: str, upload: UploadFile) -> None:
    """Put ``upload`` where ``path`` (``variables.file``, ``variables.files.0``) points:
    at a null that is already there, never anywhere else."""
    head, *keys = path.split(".")
    if head != "variables" or not keys:
        raise BadMultipart(f"map path {path[:100]!r} must start with variables.")
    container: Any = operations
    for key in [head, *keys[:-1]]:
        container = _step(container, key, path)
    last = keys[-1]
    if isinstance(container, dict) and container.get(last, False) is None:
        container[last] = upload
    elif isinstance(container, list) and (index := _index(container, last)) is not None:
        if container[index] is not None:
            raise _nowhere(path)
        container[index] = upload
    else:
        raise _nowhere(path)


def _nowhere(path: str) -> BadMultipart:
    return BadMultipart(f"map path {path[:100]!r} does not lead to a null in operations")


def _index(items: list[Any], key: str) -> int | None:
    """``key`` as an index of ``items``, or None."""
    if len(key) > 9 or not (key.isascii() and key.isdigit()) or int(key) >= len(items):
        return None
    return int(key)


def _step(container: Any, key: str, path: str) -> Any:
    """The dict or list under ``key`` of ``container``."""
    if isinstance(container, dict):
        found = container.get(key)
    elif isinstance(container, list) and (index := _index(container, key)) is not None:
        found = container[index]
    else:
        found = None
    if not isinstance(found, dict | list):
        raise _nowhere(path)
    return found
