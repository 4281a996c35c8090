"""Settings: every knob, its default and its ``ROTA_*`` environment variable.

Only this module reads ``os.environ``. Settings are built once at the edge (``rota.App()``, the
CLI) from defaults, then the environment, then explicit arguments, and validated at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rota.errors import ConfigError

DEFAULT_SCHEMA = "rota"
DEFAULT_QUEUE = "default"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_POLL_INTERVAL_SECONDS = 5.0
DEFAULT_RESCUE_INTERVAL_SECONDS = 5.0
DEFAULT_PRUNE_INTERVAL_SECONDS = 60.0
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0
DEFAULT_PRUNE_BATCH_SIZE = 1000
DEFAULT_PAYLOAD_MAX_BYTES = 64 * 1024
DEFAULT_RESULT_MAX_BYTES = 64 * 1024
DEFAULT_CONCURRENCY = 10
# Without a prefetch setting, a worker holds at most this many jobs per slot ahead of its
# free slots (docs/performance.md: bigger claims, fewer claim statements per job).
DEFAULT_PREFETCH_PER_SLOT = 16
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_SHUTDOWN_GRACE_SECONDS = 25.0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_CAP_SECONDS = 3600.0
DEFAULT_POOL_MAX_SIZE = 10
DEFAULT_SCHEDULE_INTERVAL_SECONDS = 1.0
DEFAULT_SCHEDULE_GRACE_SECONDS = 60.0

_SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Settings(BaseModel):
    """Every setting of rota. Environment variable: ``ROTA_`` + the upper-cased name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset means embedded PostgreSQL in data_dir"
    )
    data_dir: str = Field(default=".rota", description="where embedded PostgreSQL keeps its data")
    pg_bindir: str | None = Field(
        default=None, description="PostgreSQL binaries for the embedded server"
    )
    schema_name: str = Field(default=DEFAULT_SCHEMA, description="schema holding rota's tables")
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0.5, le=86400)
    heartbeat_seconds: float | None = Field(
        default=None, gt=0, description="lease renewal period; default lease_seconds / 3"
    )
    poll_interval_seconds: float = Field(default=DEFAULT_POLL_INTERVAL_SECONDS, gt=0, le=3600)
    rescue_interval_seconds: float = Field(default=DEFAULT_RESCUE_INTERVAL_SECONDS, gt=0, le=3600)
    prune_interval_seconds: float = Field(default=DEFAULT_PRUNE_INTERVAL_SECONDS, gt=0)
    retention_seconds: float = Field(default=DEFAULT_RETENTION_SECONDS, ge=0)
    prune_batch_size: int = Field(default=DEFAULT_PRUNE_BATCH_SIZE, ge=1, le=100_000)
    payload_max_bytes: int = Field(default=DEFAULT_PAYLOAD_MAX_BYTES, ge=2, le=1024 * 1024)
    result_max_bytes: int = Field(default=DEFAULT_RESULT_MAX_BYTES, ge=2, le=1024 * 1024)
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=10_000)
    prefetch: int | None = Field(
        default=None, ge=0, le=10_000, description="jobs claimed ahead; default 16 x concurrency"
    )
    shutdown_grace_seconds: float = Field(default=DEFAULT_SHUTDOWN_GRACE_SECONDS, ge=0)
    pool_max_size: int = Field(default=DEFAULT_POOL_MAX_SIZE, ge=1, le=1000)
    schedule_interval_seconds: float = Field(
        default=DEFAULT_SCHEDULE_INTERVAL_SECONDS,
        gt=0,
        le=3600,
        description="how often each worker looks for due schedule ticks",
    )
    schedule_grace_seconds: float = Field(
        default=DEFAULT_SCHEDULE_GRACE_SECONDS,
        gt=0,
        description="a tick later than this is missed (downtime) and follows on_missed",
    )
    fair_claims: bool = Field(
        default=True,
        description="claim fairly across tenants (and enforce limits) unless a queue opts out",
    )
    tenant_default_weight: int = Field(default=1, ge=1, le=1000)
    tenant_max_running: int | None = Field(
        default=None, ge=0, description="default cap on a tenant's running jobs (all workers)"
    )
    test_crash_at: str | None = Field(
        default=None,
        pattern="^(after_claim|before_complete|after_complete)$",
        description="testing only: the worker process exits at this point of a run",
    )
    log_level: str = Field(default="INFO", pattern="^(?i:debug|info|warning|error|critical)$")
    log_format: str = Field(default="json", pattern="^(json|text)$")
    event_loop: str = Field(default="auto", pattern="^(auto|asyncio|uvloop)$")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not _SCHEMA_PATTERN.match(self.schema_name):
            raise ValueError("schema_name must be a lower-case SQL identifier (letters, digits, _)")
        if self.heartbeat_seconds is not None and self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self

    @property
    def heartbeat_interval_seconds(self) -> float:
        return self.heartbeat_seconds or self.lease_seconds / 3

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``ROTA_*`` variables, then ``overrides`` (``None`` values ignored).

        Raises:
            ConfigError: a value is invalid; the message names the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            variable = env_variable(name)
            if variable in env and env[variable] != "":
                values[name] = env[variable]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as error:
            first = error.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "settings"
            source = env_variable(field) if field in cls.model_fields else field
            raise ConfigError(f"{source}: {first['msg']}") from None


def env_variable(name: str) -> str:
    """The environment variable of a setting: ``ROTA_`` + its upper-cased name."""
    if name == "schema_name":
        return "ROTA_SCHEMA"
    return "ROTA_" + name.upper()
