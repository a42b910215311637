"""The life of a case: deterministic Temporal workflows (no I/O here)."""
