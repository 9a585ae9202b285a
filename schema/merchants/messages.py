"""The mails the merchants domain sends (``{name: (subject, body)}``), registered with
the mail renderer (``schema.identity.messages``). Every template gets ``tenant`` and
``full_name`` (the recipient's); each lists the other params it needs below."""

from __future__ import annotations

from schema.identity.messages import register_templates

TEMPLATES: dict[str, tuple[str, str]] = {}

register_templates(TEMPLATES)
