"""Per-tenant backups, proven by restoring them.

A backup is a consistent snapshot of one tenant's schema (or of the registry) made by the
database's own tool (SQLite's online backup API, ``pg_dump``), followed for a tenant by the
bytes of the files its rows name (``files``), compressed with zstd,
sealed in AES-256-GCM chunks (``format``) and put in a ``BackupStore``; its metadata is a
``backup`` row in the registry. Verification restores every new backup in a scratch place
and compares it with its manifest; retention keeps a daily/weekly/monthly set and never the
newest verified backup; restore makes a new tenant, or replaces a suspended one.
"""
