"""The audit trail: records, their targets, the chain's head, and triggers that keep the
records append-only and the head moving one step at a time.

Appending a record moves the head and indexes its targets in the same statement (an
insert trigger): no code path, raw SQL included, appends without moving the head, and
the head's own trigger refuses a record whose sequence number is not the next one.

PostgreSQL refuses UPDATE, DELETE and TRUNCATE of the records unless someone with the
table's ownership disables the triggers; SQLite's triggers stop mistakes only (anyone who
can write the file can drop them), so there the hash chain is what detects a change.
"""

from alembic_like.sql import serial_pk, timestamp

revision = "t0006"
down_revision = "t0005"
description = "the hash-chained audit trail"

GENESIS = "0" * 64  # the prev_hash of record 1 (schema.audit.service.GENESIS)
APPEND_ONLY = ("audit_record", "audit_target")
REFUSED = "audit records are append-only"
HEAD_RULE = "the audit chain head only moves forward one record at a time"


def upgrade(dialect: str) -> list[str]:
    key = "BIGINT NOT NULL PRIMARY KEY" if dialect == "postgres" else "INTEGER NOT NULL PRIMARY KEY"
    tables = [
        f"""CREATE TABLE audit_record (
            id {key},
            occurred_at {timestamp(dialect)} NOT NULL,
            actor_subject VARCHAR(200) NOT NULL,
            actor_kind VARCHAR(16) NOT NULL,
            client_id VARCHAR(200),
            tenant_id VARCHAR(26) NOT NULL,
            operation VARCHAR(100) NOT NULL,
            targets TEXT NOT NULL,
            outcome VARCHAR(64) NOT NULL,
            source_address VARCHAR(64),
            request_id VARCHAR(100),
            summary TEXT NOT NULL,
            prev_hash VARCHAR(64) NOT NULL,
            hash VARCHAR(64) NOT NULL)""",
        # Each filter of auditRecords, newest first within it.
        "CREATE INDEX idx_audit_record_actor ON audit_record (actor_subject, id)",
        "CREATE INDEX idx_audit_record_operation ON audit_record (operation, id)",
        "CREATE INDEX idx_audit_record_outcome ON audit_record (outcome, id)",
        "CREATE INDEX idx_audit_record_occurred_at ON audit_record (occurred_at)",
        f"""CREATE TABLE audit_target (
            id {serial_pk(dialect, big=True)},
            target VARCHAR(200) NOT NULL,
            record_id BIGINT NOT NULL)""",
        "CREATE INDEX idx_audit_target_target ON audit_target (target, record_id)",
        """CREATE TABLE audit_chain_head (
            id INT NOT NULL PRIMARY KEY,
            last_sequence BIGINT NOT NULL,
            last_hash VARCHAR(64) NOT NULL)""",
        f"INSERT INTO audit_chain_head (id, last_sequence, last_hash) VALUES (1, 0, '{GENESIS}')",
    ]
    return tables + (_postgres_triggers() if dialect == "postgres" else _sqlite_triggers())


def _postgres_triggers() -> list[str]:
    # No schema is named (a backup restores under another name): the statements run on
    # the first schema of the search_path, refused unless it is the table's own. Static
    # SQL keeps its plan; format()ed SQL on TG_TABLE_SCHEMA cost twice as much.
    statements = [
        """CREATE FUNCTION audit_record_appended() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_SCHEMA IS DISTINCT FROM current_schema() THEN
                RAISE EXCEPTION 'append audit records with their schema first in search_path';
            END IF;
            UPDATE audit_chain_head SET last_sequence = NEW.id, last_hash = NEW.hash
                WHERE id = 1;
            INSERT INTO audit_target (target, record_id)
                SELECT value, NEW.id FROM jsonb_array_elements_text(NEW.targets::jsonb);
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER audit_record_appended AFTER INSERT ON audit_record
            FOR EACH ROW EXECUTE FUNCTION audit_record_appended()""",
        f"""CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{REFUSED}: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$""",
        f"""CREATE FUNCTION audit_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id <> OLD.id OR NEW.last_sequence <> OLD.last_sequence + 1 THEN
                RAISE EXCEPTION '{HEAD_RULE}' USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER audit_chain_head_advance BEFORE UPDATE ON audit_chain_head
            FOR EACH ROW EXECUTE FUNCTION audit_head_advance()""",
    ]
    for table in (*APPEND_ONLY, "audit_chain_head"):
        operations = "DELETE" if table == "audit_chain_head" else "UPDATE OR DELETE"
        statements += [
            f"""CREATE TRIGGER {table}_refuse_change BEFORE {operations} ON {table}
                FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
        ]
    return statements


def _sqlite_triggers() -> list[str]:
    def refuse(name: str, event: str, table: str, message: str, when: str = "") -> str:
        return (
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} {when} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )

    statements = [
        refuse(f"{table}_no_{event.lower()}", event, table, REFUSED)
        for table in APPEND_ONLY
        for event in ("UPDATE", "DELETE")
    ]
    return [
        """CREATE TRIGGER audit_record_appended AFTER INSERT ON audit_record BEGIN
            UPDATE audit_chain_head SET last_sequence = NEW.id, last_hash = NEW.hash
                WHERE id = 1;
            INSERT INTO audit_target (target, record_id)
                SELECT value, NEW.id FROM json_each(NEW.targets);
        END""",
        *statements,
        refuse("audit_chain_head_no_delete", "DELETE", "audit_chain_head", HEAD_RULE),
        refuse(
            "audit_chain_head_advance",
            "UPDATE",
            "audit_chain_head",
            HEAD_RULE,
            "WHEN NEW.id <> OLD.id OR NEW.last_sequence <> OLD.last_sequence + 1",
        ),
    ]


def downgrade(dialect: str) -> list[str]:
    statements = [
        "DROP TABLE audit_chain_head",
        "DROP TABLE audit_target",
        "DROP TABLE audit_record",
    ]
    if dialect == "postgres":
        statements += [
            f"DROP FUNCTION {name}()"
            for name in ("audit_record_appended", "audit_head_advance", "audit_refuse_change")
        ]
    return statements
