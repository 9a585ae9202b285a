from alembic_like.sql import serial_pk, timestamp

revision = "t0007"
down_revision = "t0006"
description = "OAuth clients, authorization codes, refresh-token families, signing keys"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    json = "JSONB" if dialect == "postgres" else "JSON"
    boolean = "BOOL" if dialect == "postgres" else "INT"
    return [
        f"""CREATE TABLE oauth_client (
            id {serial_pk(dialect)},
            client_id VARCHAR(64) NOT NULL UNIQUE,
            name VARCHAR(200) NOT NULL,
            kind VARCHAR(20) NOT NULL,
            secret_hash VARCHAR(64),
            redirect_uris {json} NOT NULL,
            grant_types {json} NOT NULL,
            scopes {json} NOT NULL,
            merchant_id INT,
            first_party {boolean} NOT NULL,
            status VARCHAR(20) NOT NULL,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            secret_rotated_at {ts})""",
        f"""CREATE TABLE oauth_authorization_code (
            id {serial_pk(dialect)},
            code_hash VARCHAR(64) NOT NULL UNIQUE,
            client_id INT NOT NULL REFERENCES oauth_client (id) ON DELETE CASCADE,
            user_id INT NOT NULL,
            redirect_uri TEXT NOT NULL,
            scope TEXT NOT NULL,
            code_challenge VARCHAR(128) NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            used_at {ts},
            sid VARCHAR(32))""",
        "CREATE INDEX idx_oauth_code_expires ON oauth_authorization_code (expires_at)",
        f"""CREATE TABLE oauth_token_family (
            id {serial_pk(dialect)},
            sid VARCHAR(32) NOT NULL UNIQUE,
            client_id INT NOT NULL REFERENCES oauth_client (id) ON DELETE CASCADE,
            user_id INT NOT NULL,
            scope TEXT NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            last_refreshed_at {ts},
            revoked_at {ts},
            revoked_reason VARCHAR(32))""",
        "CREATE INDEX idx_oauth_family_client ON oauth_token_family (client_id)",
        "CREATE INDEX idx_oauth_family_user ON oauth_token_family (user_id)",
        "CREATE INDEX idx_oauth_family_expires ON oauth_token_family (expires_at)",
        f"""CREATE TABLE oauth_refresh_token (
            id {serial_pk(dialect)},
            token_hash VARCHAR(64) NOT NULL UNIQUE,
            family_id INT NOT NULL REFERENCES oauth_token_family (id) ON DELETE CASCADE,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            used_at {ts})""",
        "CREATE INDEX idx_oauth_refresh_family ON oauth_refresh_token (family_id)",
        f"""CREATE TABLE oauth_revoked_access_token (
            jti VARCHAR(64) NOT NULL PRIMARY KEY,
            expires_at {ts} NOT NULL)""",
        f"""CREATE TABLE oauth_signing_key (
            id {serial_pk(dialect)},
            kid VARCHAR(64) NOT NULL UNIQUE,
            state VARCHAR(16) NOT NULL,
            algorithm VARCHAR(16) NOT NULL,
            public_jwk {json} NOT NULL,
            private_key TEXT NOT NULL,
            created_at {ts} NOT NULL,
            activated_at {ts},
            retired_at {ts},
            remove_after {ts})""",
        # At most one key signs: two processes making the first key race on this.
        "CREATE UNIQUE INDEX uq_oauth_signing_key_current ON oauth_signing_key (state) "
        "WHERE state = 'current'",
    ]


def downgrade(dialect: str) -> list[str]:
    return [
        "DROP TABLE oauth_signing_key",
        "DROP TABLE oauth_revoked_access_token",
        "DROP TABLE oauth_refresh_token",
        "DROP TABLE oauth_token_family",
        "DROP TABLE oauth_authorization_code",
        "DROP TABLE oauth_client",
    ]
