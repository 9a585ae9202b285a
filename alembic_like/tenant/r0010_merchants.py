import json

from alembic_like.sql import serial_pk, timestamp

revision = "t0010"
down_revision = "t0009"
description = "merchants: onboarding standards, agreements, applications, review, staff, sanctions"

TABLES = (
    "merchant_appeal",
    "merchant_sanction",
    "merchant_staff_invitation",
    "merchant_agreement_acceptance",
    "merchant_watch_list",
    "merchant_screening_finding",
    "merchant_document",
    "merchant_event",
    "merchant",
    "merchant_agreement",
    "merchant_onboarding_standard",
)

# Version 1 of every tenant's onboarding standards; administrators change them through
# GraphQL (each change is a new version).
DEFAULT_STANDARD = {
    "required_fields": [
        "business_name", "legal_name", "registration_number", "category", "contact_name",
        "contact_email", "contact_phone", "address_line1", "city", "postal_code", "country",
        "bank_details",
    ],
    "documents": [
        {"kind": "business_licence", "required": True, "expires": False},
        {"kind": "representative_identity", "required": True, "expires": True},
        {"kind": "bank_account_proof", "required": True, "expires": False},
    ],
    "accepted_types": ["application/pdf", "image/jpeg", "image/png"],
    "max_file_bytes": 10 * 1024 * 1024,
    # Letters and digits with separators, as most business registers issue them.
    "registration_number_pattern": r"^[A-Z0-9][A-Z0-9./-]{3,31}$",
}  # fmt: skip


def _now(dialect: str) -> str:
    # SQLite: the text form Tortoise writes and reads back for an aware datetime.
    if dialect == "postgres":
        return "CURRENT_TIMESTAMP"
    return "strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00'"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json(value: object) -> str:
    return _literal(json.dumps(value))


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    pk = serial_pk(dialect)
    boolean = "BOOLEAN" if dialect == "postgres" else "INT"
    json_type = "JSONB" if dialect == "postgres" else "JSON"
    std = DEFAULT_STANDARD
    return [
        f"""CREATE TABLE merchant_onboarding_standard (
            id {pk},
            version INT NOT NULL UNIQUE,
            required_fields {json_type} NOT NULL,
            documents {json_type} NOT NULL,
            accepted_types {json_type} NOT NULL,
            max_file_bytes INT NOT NULL,
            categories {json_type} NOT NULL,
            restricted_categories {json_type} NOT NULL,
            registration_number_pattern VARCHAR(200) NOT NULL,
            fee_amount BIGINT,
            fee_currency VARCHAR(3),
            created_at {ts} NOT NULL,
            created_by VARCHAR(200) NOT NULL,
            reason VARCHAR(1000))""",
        f"""INSERT INTO merchant_onboarding_standard (version, required_fields, documents,
            accepted_types, max_file_bytes, categories, restricted_categories,
            registration_number_pattern, created_at, created_by, reason)
            VALUES (1, {_json(std["required_fields"])}, {_json(std["documents"])},
            {_json(std["accepted_types"])}, {std["max_file_bytes"]}, '[]', '[]',
            {_literal(std["registration_number_pattern"])}, {_now(dialect)},
            'system:platform', 'platform defaults')""",
        f"""CREATE TABLE merchant_agreement (
            id {pk},
            version VARCHAR(50) NOT NULL UNIQUE,
            title VARCHAR(200) NOT NULL,
            body TEXT NOT NULL,
            body_sha256 VARCHAR(64) NOT NULL,
            published_at {ts} NOT NULL,
            published_by VARCHAR(200) NOT NULL,
            reacceptance_deadline {ts})""",
        f"""CREATE TABLE merchant (
            id {pk},
            status VARCHAR(20) NOT NULL,
            version INT NOT NULL,
            owner_user_id INT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
            business_name VARCHAR(200) NOT NULL,
            legal_name VARCHAR(200),
            registration_number VARCHAR(64),
            category VARCHAR(100),
            description TEXT,
            website VARCHAR(300),
            contact_name VARCHAR(200),
            contact_email VARCHAR(254),
            contact_phone VARCHAR(20),
            address_line1 VARCHAR(200),
            address_line2 VARCHAR(200),
            city VARCHAR(100),
            region VARCHAR(100),
            postal_code VARCHAR(20),
            country VARCHAR(2),
            bank_details_sealed TEXT,
            bank_account_last4 VARCHAR(4),
            logo_file_id INT,
            standard_version INT,
            submission_count INT NOT NULL,
            risk_level VARCHAR(10),
            requested_items {json_type} NOT NULL,
            claimed_by_user_id INT,
            claim_expires_at {ts},
            fee_paid_at {ts},
            fee_reference VARCHAR(200),
            accepted_agreement_id INT REFERENCES merchant_agreement (id) ON DELETE RESTRICT,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            submitted_at {ts},
            decided_at {ts},
            activated_at {ts},
            status_changed_at {ts})""",
        # The review queue: by status, oldest submission first.
        "CREATE INDEX idx_merchant_queue ON merchant (status, submitted_at, id)",
        "CREATE INDEX idx_merchant_owner ON merchant (owner_user_id)",
        "CREATE INDEX idx_merchant_registration ON merchant (registration_number)",
        f"""CREATE TABLE merchant_event (
            id {serial_pk(dialect, big=True)},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            action VARCHAR(40) NOT NULL,
            from_status VARCHAR(20),
            to_status VARCHAR(20),
            actor VARCHAR(200) NOT NULL,
            actor_user_id INT,
            reason TEXT,
            details {json_type} NOT NULL,
            created_at {ts} NOT NULL)""",
        "CREATE INDEX idx_merchant_event_merchant ON merchant_event (merchant_id, id)",
        f"""CREATE TABLE merchant_document (
            id {pk},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            kind VARCHAR(32) NOT NULL,
            file_id INT NOT NULL,
            filename VARCHAR(255) NOT NULL,
            media_type VARCHAR(100) NOT NULL,
            size BIGINT NOT NULL,
            sha256 VARCHAR(64) NOT NULL,
            expires_on DATE,
            uploaded_by VARCHAR(200) NOT NULL,
            uploaded_at {ts} NOT NULL,
            replaced_at {ts})""",
        "CREATE INDEX idx_merchant_document_merchant ON merchant_document (merchant_id)",
        f"""CREATE TABLE merchant_screening_finding (
            id {pk},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            submission INT NOT NULL,
            check_name VARCHAR(50) NOT NULL,
            passed {boolean} NOT NULL,
            severity VARCHAR(10) NOT NULL,
            evidence {json_type} NOT NULL,
            checked_at {ts} NOT NULL,
            UNIQUE (merchant_id, submission, check_name))""",
        f"""CREATE TABLE merchant_watch_list (
            id {pk},
            kind VARCHAR(30) NOT NULL,
            value VARCHAR(254) NOT NULL,
            reason VARCHAR(1000) NOT NULL,
            created_by VARCHAR(200) NOT NULL,
            created_at {ts} NOT NULL,
            UNIQUE (kind, value))""",
        f"""CREATE TABLE merchant_agreement_acceptance (
            id {pk},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            agreement_id INT NOT NULL REFERENCES merchant_agreement (id) ON DELETE RESTRICT,
            user_id INT NOT NULL,
            accepted_at {ts} NOT NULL,
            source_address VARCHAR(64),
            UNIQUE (merchant_id, agreement_id))""",
        f"""CREATE TABLE merchant_staff_invitation (
            id {pk},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            email VARCHAR(254) NOT NULL,
            role_key VARCHAR(50) NOT NULL,
            token_hash VARCHAR(64) NOT NULL UNIQUE,
            invited_by VARCHAR(200) NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            accepted_at {ts},
            accepted_user_id INT,
            revoked_at {ts})""",
        "CREATE INDEX idx_merchant_invitation_merchant ON merchant_staff_invitation (merchant_id)",
        f"""CREATE TABLE merchant_sanction (
            id {pk},
            merchant_id INT NOT NULL REFERENCES merchant (id) ON DELETE CASCADE,
            kind VARCHAR(20) NOT NULL,
            status VARCHAR(20) NOT NULL,
            reason TEXT NOT NULL,
            evidence {json_type} NOT NULL,
            status_before VARCHAR(20) NOT NULL,
            issued_by VARCHAR(200) NOT NULL,
            issued_by_user_id INT,
            issued_at {ts} NOT NULL,
            ended_at {ts},
            ended_by VARCHAR(200),
            end_reason TEXT)""",
        "CREATE INDEX idx_merchant_sanction_merchant ON merchant_sanction (merchant_id)",
        f"""CREATE TABLE merchant_appeal (
            id {pk},
            sanction_id INT NOT NULL UNIQUE REFERENCES merchant_sanction (id)
                ON DELETE CASCADE,
            merchant_id INT NOT NULL,
            statement TEXT NOT NULL,
            submitted_by VARCHAR(200) NOT NULL,
            submitted_by_user_id INT,
            submitted_at {ts} NOT NULL,
            decision VARCHAR(20),
            decided_by VARCHAR(200),
            decided_by_user_id INT,
            decided_at {ts},
            decision_reason TEXT)""",
        "CREATE INDEX idx_merchant_appeal_merchant ON merchant_appeal (merchant_id)",
    ]


def downgrade(dialect: str) -> list[str]:
    return [f"DROP TABLE {table}" for table in TABLES]
