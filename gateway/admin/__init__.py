"""Administering: the admin API, the web UI, the CLI, their shared operations and the audit log."""
