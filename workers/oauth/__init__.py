"""OAuth housekeeping jobs: key rotation and the purge of expired grants."""
