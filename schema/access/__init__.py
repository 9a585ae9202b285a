"""Roles and permissions: the catalog, role templates, assignments, access reviews."""
