"""Users of a tenant: registration, verification, passwords, sign-in protection."""
