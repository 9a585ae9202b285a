"""The committed SDL is what the code builds."""

from __future__ import annotations

from schema.root import SDL_PATH, build_schema, export_sdl


def test_committed_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text() == export_sdl(build_schema()), (
        f"{SDL_PATH} is out of date: run `saas schema export` and commit the result"
    )


def test_sdl_ends_with_one_newline() -> None:
    sdl = export_sdl(build_schema())
    assert sdl.endswith("}\n")
    assert not sdl.endswith("\n\n")
