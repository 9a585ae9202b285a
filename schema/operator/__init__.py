"""The platform operator's API: tenants and their first owner (separate endpoint)."""
