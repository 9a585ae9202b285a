"""The merchants domain's operations, one module per part of a merchant's life:
``lifecycle`` (the checked status transitions every other module goes through),
``standards``, ``applications``, ``documents``, ``screening`` (the automated review),
``reviews`` (the human review), ``agreements``, ``staff``, ``sanctions``, ``watchlist``.
Services check their inputs, transitions and invariants, record who did what, and know
nothing of GraphQL; the API layer checks permissions before calling them."""
