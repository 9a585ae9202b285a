"""The merchants domain: from a user's application to an active merchant, its staff,
agreements and sanctions.

Importing the package registers its mail templates with the renderer, so every process
that can enqueue or send a merchants mail (the API, the workers) knows them."""

from schema.merchants import messages as messages
