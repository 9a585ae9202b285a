"""Jobs of the stored files."""
