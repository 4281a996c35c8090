"""Schedulers: system schedules declared in code, tenants' schedules in the database.
Internal package; both run as loops inside every worker and before ``rota drain``."""
