from alembic_like.sql import serial_pk, timestamp

revision = "t0005"
down_revision = "t0004"
description = "roles, role permissions, role assignments, access reviews"

TABLES = (
    "access_review_item",
    "access_review",
    "access_change",
    "access_role_assignment",
    "access_role_permission",
    "access_role",
)


def upgrade(dialect: str) -> list[str]:
    ts = timestamp(dialect)
    pk = serial_pk(dialect)
    boolean = "BOOLEAN" if dialect == "postgres" else "INT"
    json = "JSONB" if dialect == "postgres" else "JSON"
    return [
        f"""CREATE TABLE access_role (
            id {pk},
            key VARCHAR(50) NOT NULL UNIQUE,
            name VARCHAR(200) NOT NULL,
            description TEXT NOT NULL,
            template {boolean} NOT NULL,
            merchant_scope VARCHAR(10) NOT NULL,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL)""",
        f"""CREATE TABLE access_role_permission (
            id {pk},
            role_id INT NOT NULL REFERENCES access_role (id) ON DELETE CASCADE,
            permission VARCHAR(100) NOT NULL,
            UNIQUE (role_id, permission))""",
        f"""CREATE TABLE access_role_assignment (
            id {pk},
            user_id INT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role_id INT NOT NULL REFERENCES access_role (id) ON DELETE RESTRICT,
            merchant_id INT,
            granted_by VARCHAR(200) NOT NULL,
            granted_at {ts} NOT NULL,
            reason TEXT)""",
        # One assignment per (user, role, merchant): NULLs are distinct in a plain unique
        # index, and merchant ids are positive.
        "CREATE UNIQUE INDEX uq_access_role_assignment ON access_role_assignment "
        "(user_id, role_id, COALESCE(merchant_id, 0))",
        "CREATE INDEX idx_access_role_assignment_role ON access_role_assignment (role_id)",
        f"""CREATE TABLE access_change (
            id {pk},
            action VARCHAR(20) NOT NULL,
            role_key VARCHAR(50) NOT NULL,
            user_id INT,
            merchant_id INT,
            actor VARCHAR(200) NOT NULL,
            reason TEXT,
            detail {json},
            changed_at {ts} NOT NULL)""",
        "CREATE INDEX idx_access_change_user ON access_change (user_id)",
        f"""CREATE TABLE access_review (
            id {pk},
            period VARCHAR(40) NOT NULL UNIQUE,
            status VARCHAR(10) NOT NULL,
            dormant_days INT NOT NULL,
            unused_days INT NOT NULL,
            opened_by VARCHAR(200) NOT NULL,
            opened_at {ts} NOT NULL,
            closed_at {ts})""",
        f"""CREATE TABLE access_review_item (
            id {pk},
            review_id INT NOT NULL REFERENCES access_review (id) ON DELETE CASCADE,
            kind VARCHAR(30) NOT NULL,
            user_id INT,
            role_key VARCHAR(50),
            merchant_id INT,
            last_login_at {ts},
            detail {json},
            decision VARCHAR(10),
            decided_by VARCHAR(200),
            decided_at {ts},
            reason TEXT)""",
        "CREATE INDEX idx_access_review_item_review ON access_review_item (review_id)",
        "CREATE INDEX idx_access_review_item_subject ON access_review_item "
        "(kind, user_id, role_key)",
    ]


def downgrade(dialect: str) -> list[str]:
    return [f"DROP TABLE {table}" for table in TABLES]
