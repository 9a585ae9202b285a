"""Backup metrics, exported by the process's Prometheus registry."""

from prometheus_client import Counter, Gauge, Histogram

BACKUPS = Counter(
    "saas_backups_total", "Backups by kind and outcome (completed, failed)", ["kind", "outcome"]
)
VERIFICATIONS = Counter(
    "saas_backup_verifications_total", "Backup verifications by outcome (verified, failed)",
    ["outcome"],
)  # fmt: skip
RESTORES = Counter("saas_backup_restores_total", "Restores by outcome", ["outcome"])
PRUNED = Counter("saas_backups_pruned_total", "Backups removed by retention")
DURATION = Histogram(
    "saas_backup_duration_seconds", "Time to back up, verify or restore", ["operation"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)  # fmt: skip
LAST_COMPLETED = Gauge(
    "saas_backup_last_completed_timestamp_seconds",
    "When this process last completed a backup of this kind", ["kind"],
)  # fmt: skip
