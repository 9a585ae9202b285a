"""OAuth 2 storage of a tenant: clients, codes, refresh-token families, signing keys."""
