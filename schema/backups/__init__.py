"""The tenant's view of its backups: listing them and asking for one."""
