from alembic_like.sql import serial_pk, timestamp

revision = "t0004"
down_revision = "t0003"
description = "users, sign-in attempts, verification tokens, identity verification"

TABLES = (
    "identity_document",
    "identity_verification",
    "user_token",
    "sign_in_attempt",
    "identity_policy",
    "users",
)


def _bool(dialect: str) -> str:
    return "BOOL" if dialect == "postgres" else "INT"


def _now(dialect: str) -> str:
    # SQLite: the text form Tortoise writes and reads back for an aware datetime.
    if dialect == "postgres":
        return "CURRENT_TIMESTAMP"
    return "strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00'"


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    pk = serial_pk(dialect)
    boolean = _bool(dialect)
    false, true = ("FALSE", "TRUE") if dialect == "postgres" else ("0", "1")
    return [
        f"""CREATE TABLE users (
            id {pk},
            email VARCHAR(254) NOT NULL UNIQUE,
            email_verified_at {ts},
            phone VARCHAR(20),
            password_hash VARCHAR(200),
            password_changed_at {ts},
            full_name VARCHAR(200) NOT NULL,
            user_type VARCHAR(20) NOT NULL,
            status VARCHAR(20) NOT NULL,
            status_reason VARCHAR(1000),
            status_changed_at {ts},
            status_changed_by VARCHAR(200),
            merchant_id INT,
            identity_status VARCHAR(20) NOT NULL,
            failed_sign_ins INT NOT NULL,
            last_failed_sign_in_at {ts},
            locked_at {ts},
            created_at {ts} NOT NULL,
            last_login_at {ts})""",
        "CREATE INDEX idx_users_merchant_id ON users (merchant_id)",
        f"""CREATE TABLE identity_policy (
            id {pk},
            registration_open {boolean} NOT NULL,
            phone_required {boolean} NOT NULL,
            email_verification_required {boolean} NOT NULL,
            password_min_length INT NOT NULL,
            password_require_lowercase {boolean} NOT NULL,
            password_require_uppercase {boolean} NOT NULL,
            password_require_digit {boolean} NOT NULL,
            password_require_symbol {boolean} NOT NULL,
            throttle_after_failures INT NOT NULL,
            lockout_after_failures INT NOT NULL,
            link_base_url VARCHAR(300),
            version INT NOT NULL,
            updated_at {ts} NOT NULL,
            updated_by VARCHAR(200))""",
        # The platform defaults (the model's defaults), for new and existing tenants alike.
        f"""INSERT INTO identity_policy (id, registration_open, phone_required,
            email_verification_required, password_min_length, password_require_lowercase,
            password_require_uppercase, password_require_digit, password_require_symbol,
            throttle_after_failures, lockout_after_failures, version, updated_at)
            VALUES (1, {true}, {false}, {false}, 8, {false}, {false}, {false}, {false},
            5, 20, 1, {_now(dialect)})""",
        f"""CREATE TABLE sign_in_attempt (
            id {serial_pk(dialect, big=True)},
            email VARCHAR(254) NOT NULL,
            user_id INT,
            source_address VARCHAR(64),
            outcome VARCHAR(32) NOT NULL,
            attempted_at {ts} NOT NULL)""",
        "CREATE INDEX idx_sign_in_attempt_source ON sign_in_attempt (source_address, attempted_at)",
        "CREATE INDEX idx_sign_in_attempt_user ON sign_in_attempt (user_id, attempted_at)",
        "CREATE INDEX idx_sign_in_attempt_time ON sign_in_attempt (attempted_at)",
        f"""CREATE TABLE user_token (
            id {pk},
            user_id INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            purpose VARCHAR(20) NOT NULL,
            token_hash VARCHAR(64) NOT NULL UNIQUE,
            new_email VARCHAR(254),
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            used_at {ts})""",
        "CREATE INDEX idx_user_token_user ON user_token (user_id, purpose)",
        f"""CREATE TABLE identity_verification (
            id {pk},
            user_id INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            status VARCHAR(20) NOT NULL,
            submitted_at {ts} NOT NULL,
            decided_at {ts},
            decided_by VARCHAR(200),
            reason VARCHAR(1000))""",
        "CREATE INDEX idx_identity_verification_user ON identity_verification (user_id)",
        "CREATE INDEX idx_identity_verification_status ON identity_verification (status, id)",
        f"""CREATE TABLE identity_document (
            id {pk},
            verification_id INT NOT NULL
                REFERENCES identity_verification (id) ON DELETE CASCADE,
            kind VARCHAR(32) NOT NULL,
            reference VARCHAR(100) NOT NULL,
            file_reference VARCHAR(500) NOT NULL)""",
        "CREATE INDEX idx_identity_document_verification ON identity_document (verification_id)",
    ]


def downgrade(dialect: str) -> list[str]:
    # Dropping a table drops its indexes on both dialects.
    return [f"DROP TABLE {table}" for table in TABLES]
