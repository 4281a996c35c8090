"""App: registry + settings + database + runtime wired together.

The façade the CLI (and later the API and dashboard) call. It forwards; the work lives in
``rota.core``, ``rota.store`` and ``rota.worker``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from rota.config import (
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_CAP_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE,
    DEFAULT_TIMEOUT_SECONDS,
    Settings,
)
from rota.core.auth import OPERATOR_TENANT, Principal, check_scopes
from rota.core.events import OutcomeEvent
from rota.core.job import EnqueuedJob, Job, JobStatus
from rota.core.limits import RateLimit
from rota.core.loops import stop_tasks
from rota.core.registry import (
    TENANT_MAX_LENGTH,
    Handler,
    JobType,
    Registry,
    check_tenant,
    encode_payload,
)
from rota.core.requests import JobRequest, build_job
from rota.core.retry import Backoff
from rota.core.schedule import InvalidSchedule, OnMissed, Recurrence, SystemSchedule
from rota.core.tenancy import Scope
from rota.errors import ConfigError, NotFound
from rota.scheduler.system import SystemScheduler
from rota.scheduler.user import UserScheduler, recurrence_of
from rota.store.claims import ClaimStore
from rota.store.db import AsyncConn, Database, SyncConn
from rota.store.jobs import JobStore, copyable
from rota.store.listen import Listener
from rota.store.migrate import MigrationReport, current_version, latest_version, migrate
from rota.store.postgres_server import LocalPostgres, find_bindir
from rota.store.schedules import ScheduleStore
from rota.store.tokens import TokenStore
from rota.store.workers import WorkerStore
from rota.worker.worker import Worker

log = logging.getLogger("rota")

DEFAULT_BACKOFF = Backoff(
    base=timedelta(seconds=DEFAULT_BACKOFF_BASE_SECONDS),
    cap=timedelta(seconds=DEFAULT_BACKOFF_CAP_SECONDS),
)

H = TypeVar("H", bound=Handler)


class App:
    """A rota application: job types, settings and the database they use.

    Args:
        database_url: PostgreSQL URL; default ``ROTA_DATABASE_URL``, else embedded PostgreSQL
            in ``./.rota/``.
        **settings: any field of ``rota.config.Settings`` (e.g. ``schema_name``).

    Example:
        >>> app = rota.App()
        >>> @app.job("reports.generate", queue="reports", max_attempts=5)
        ... async def generate(ctx: rota.JobContext, payload: ReportInput) -> dict: ...
    """

    def __init__(self, database_url: str | None = None, **settings: Any) -> None:
        self.settings = Settings.load(database_url=database_url, **settings)
        self.registry = Registry()
        self._subscribers: list[Callable[[OutcomeEvent], None]] = []
        self._db: Database | None = None
        self._jobs: JobStore | None = None
        self._url: str | None = self.settings.database_url
        self._local: LocalPostgres | None = None
        self._url_lock = threading.Lock()
        self._claims: ClaimStore | None = None

    # -- declaring job types ---------------------------------------------------------------

    def job(
        self,
        type: str,
        *,
        queue: str = DEFAULT_QUEUE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | timedelta = DEFAULT_TIMEOUT_SECONDS,
        concurrency: int | None = None,
        priority: int = 0,
        backoff: Backoff | None = None,
        system: bool = False,
        payload_model: type[BaseModel] | None = None,
        global_concurrency: int | None = None,
        rate_limit: RateLimit | tuple[int, float] | None = None,
        tenant_rate_limit: RateLimit | tuple[int, float] | None = None,
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of job type ``type``.

        The handler takes ``(ctx: rota.JobContext, payload: Model)`` where ``Model`` is a
        Pydantic model (or ``dict`` for free-form payloads); ``async def`` runs on the
        worker's loop, ``def`` in a thread. ``system=True`` declares a job without a tenant.
        ``global_concurrency`` caps running jobs of the type across all workers and
        ``rate_limit=(runs, per_seconds)`` caps its starts, ``tenant_rate_limit`` each
        tenant's starts of it; all are enforced in the database on fair queues.

        Raises:
            JobTypeError: malformed or duplicate type, or an option out of range.
        """

        def register(handler: H) -> H:
            self.registry.register(
                type,
                handler,
                queue=queue,
                max_attempts=max_attempts,
                timeout=timeout if isinstance(timeout, timedelta) else timedelta(seconds=timeout),
                concurrency=concurrency,
                priority=priority,
                backoff=backoff or DEFAULT_BACKOFF,
                is_system=system,
                payload_model=payload_model,
                global_concurrency=global_concurrency,
                rate_limit=_rate(rate_limit),
                tenant_rate_limit=_rate(tenant_rate_limit),
            )
            return handler

        return register

    def schedule(
        self,
        type: str,
        *,
        cron: str,
        payload: BaseModel | dict[str, Any] | None = None,
        timezone: str = "UTC",
        on_missed: OnMissed = "skip",
        name: str | None = None,
    ) -> None:
        """Declare a system schedule: one ``type`` job per tick of ``cron`` (5 fields, or 6
        with seconds) in ``timezone``, however many workers run. Ticks missed while no
        worker ran are dropped (``on_missed="skip"``) or fired once (``"run_once"``).
        Changing or removing the declaration takes effect with the next deploy.

        Raises:
            UnknownJobType, JobTypeError (not a system job type), InvalidSchedule,
            InvalidPayload.
        """
        job_type = self.registry.get(type)
        if on_missed not in ("skip", "run_once"):
            raise InvalidSchedule("on_missed must be 'skip' or 'run_once'")
        encoded = encode_payload(job_type, payload, self.settings.payload_max_bytes)
        self.registry.add_schedule(
            SystemSchedule(
                key=f"system:{name or type}",
                job_type=type,
                recurrence=Recurrence("cron", timezone=timezone, cron=cron),
                payload=json.loads(encoded),
                on_missed=on_missed,
            )
        )

    def queue(self, name: str, *, concurrency: int | None = None, fair: bool | None = None) -> None:
        """Configure queue ``name``: ``concurrency`` caps how many of its jobs one worker
        process runs at once; ``fair=False`` claims it in plain FIFO order, without tenant
        fairness or database-enforced limits (default: the ``fair_claims`` setting).

        Example:
            >>> app.queue("reports", concurrency=2)
            >>> app.queue("firehose", fair=False)
        """
        self.registry.configure_queue(name, concurrency, fair)

    async def set_tenant_limits(
        self, tenant_id: str, *, weight: int = 1, max_running: int | None = None
    ) -> dict[str, Any]:
        """A tenant's share of claims while backlogged (``weight``, 1-1000) and its cap on
        running jobs across all workers (``max_running``; None: the default cap)."""
        if not 1 <= weight <= 1000:
            raise ConfigError("weight must be within 1..1000")
        if max_running is not None and max_running < 0:
            raise ConfigError("max_running must be 0 or more")
        if not _is_tenant_text(tenant_id):
            raise ConfigError("tenant must be 1-128 characters")
        await self._ensure_db()
        return await self.claims_store().set_tenant_limits(tenant_id, weight, max_running)

    async def tenant_stats(
        self, *, tenant_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Per tenant: queued jobs, running jobs, age of the oldest due queued job."""
        await self._ensure_db()
        return await self.claims_store().tenant_stats(tenant_id, limit)

    def subscribe(self, subscriber: Callable[[OutcomeEvent], None]) -> None:
        """Call ``subscriber`` with every outcome event of jobs run by this process."""
        self._subscribers.append(subscriber)

    # -- enqueue -----------------------------------------------------------------------------

    async def enqueue(
        self,
        type: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        tenant_id: str | None = None,
        actor_id: str | None = None,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        traceparent: str | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        priority: int | None = None,
        run_after: datetime | timedelta | None = None,
        connection: AsyncConn | None = None,
    ) -> EnqueuedJob:
        """Enqueue one job. With ``connection``, the insert joins the caller's transaction:
        the job exists if and only if that transaction commits.

        Returns:
            The job's id; with an idempotency key already in use (same payload), the existing
            job's id and ``created=False``.

        Raises:
            UnknownJobType, TenantRequired, InvalidPayload, PayloadTooLarge,
            IdempotencyConflict, DatabaseError.
        """
        request = JobRequest(
            type,
            payload,
            tenant_id,
            actor_id,
            idempotency_key,
            trace_id,
            traceparent,
            request_id,
            correlation_id,
            priority,
            run_after,
        )
        if connection is not None:
            [job] = await self.enqueue_many([request], connection=connection)
            return job
        row = build_job(self.registry, request, self.settings.payload_max_bytes)
        await self._ensure_db()
        return await self.jobs_store().insert_job(row)

    async def enqueue_many(
        self, requests: Sequence[JobRequest], *, connection: AsyncConn | None = None
    ) -> list[EnqueuedJob]:
        """Enqueue many jobs in one statement: a multi-row INSERT, or COPY for batches of 64 or
        more with no idempotency key and no delay. Every job is validated before it is written
        (in a COPY of the App's own, each as it is sent); one invalid job rejects the batch and
        nothing is written."""
        max_bytes = self.settings.payload_max_bytes
        if connection is None and copyable(requests):
            # Each job is validated as it is sent, so the server stores the first while the
            # rest are built; an invalid one aborts the COPY and nothing is written.
            await self._ensure_db()
            return await self.jobs_store().copy_jobs(
                build_job(self.registry, request, max_bytes) for request in requests
            )
        rows = [build_job(self.registry, request, max_bytes) for request in requests]
        if not rows:
            return []
        if connection is not None:
            return await self.jobs_store().insert_jobs(rows, connection)
        await self._ensure_db()
        return await self.jobs_store().insert_jobs(rows)

    def enqueue_sync(
        self,
        type: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        connection: SyncConn | None = None,
        **envelope: Any,
    ) -> EnqueuedJob:
        """``enqueue`` for synchronous code; ``connection`` is a psycopg (sync) connection."""
        row = build_job(
            self.registry, JobRequest(type, payload, **envelope), self.settings.payload_max_bytes
        )
        store = self.jobs_store()
        if connection is not None:
            return store.insert_jobs_sync([row], connection)[0]
        with self.database().connection_sync() as conn:
            return store.insert_jobs_sync([row], conn)[0]

    # -- inspecting and acting on jobs ---------------------------------------------------------

    async def get_job(self, job_id: UUID, *, tenant_id: str | None = None) -> Job:
        """A job by id; with ``tenant_id``, only that tenant's (else ``NotFound``)."""
        await self._ensure_db()
        return await self.jobs_store().get_job(job_id, _scope(tenant_id))

    async def list_jobs(self, *, tenant_id: str | None = None, **filters: Any) -> list[Job]:
        await self._ensure_db()
        return await self.jobs_store().list_jobs(_scope(tenant_id), **filters)

    async def job_events(
        self, job_id: UUID, *, tenant_id: str | None = None
    ) -> list[dict[str, Any]]:
        await self._ensure_db()
        return await self.jobs_store().list_job_events(job_id, _scope(tenant_id))

    async def count_jobs(self, *, tenant_id: str | None = None) -> list[dict[str, Any]]:
        await self._ensure_db()
        return await self.jobs_store().count_jobs(_scope(tenant_id))

    async def list_workers(self, seen_within_seconds: float = 60.0) -> list[dict[str, Any]]:
        await self._ensure_db()
        return await WorkerStore(self.database(), self.settings.schema_name).list_workers(
            seen_within_seconds
        )

    async def cancel(self, job_id: UUID, *, tenant_id: str | None = None) -> JobStatus:
        """Cancel a queued job now; ask a running one to stop (it ends ``cancelled`` when its
        handler stops, or at its timeout). Raises ``InvalidState`` for finished jobs."""
        await self._ensure_db()
        return await self.jobs_store().cancel_job(job_id, _scope(tenant_id), "cancel requested")

    async def retry(self, job_id: UUID, *, tenant_id: str | None = None) -> JobStatus:
        """Queue a failed, poisoned or cancelled job again with a fresh attempt budget."""
        await self._ensure_db()
        store = self.jobs_store()
        job = await store.get_job(job_id, _scope(tenant_id))
        extra = (
            self.registry.get(job.type).max_attempts
            if job.type in self.registry
            else (job.max_attempts)
        )
        return await store.retry_job(
            job_id, _scope(tenant_id), extra_attempts=extra, message="retried by operator"
        )

    async def outcomes(self, ready: asyncio.Event | None = None) -> AsyncIterator[OutcomeEvent]:
        """Every outcome event of every worker, live, via LISTEN (until the caller stops).

        Args:
            ready: set once the LISTEN is in place, so nothing sent after it is missed.
        """
        await self._ensure_db()
        queue: asyncio.Queue[OutcomeEvent] = asyncio.Queue()
        channel = self.jobs_store().channels.outcomes

        def on_notify(_: str, payload: str) -> None:
            for event in OutcomeEvent.from_notification(payload):
                queue.put_nowait(event)

        listener = Listener(
            self.database(),
            [channel],
            on_notify,
            announce=["outcomes"],
            schema=self.settings.schema_name,
        )
        task = asyncio.create_task(listener.run())
        try:
            await listener.connected.wait()
            if ready is not None:
                ready.set()
            while True:
                yield await queue.get()
        finally:
            # The listener withdraws its announcement and closes its connection as it ends
            # (within a few seconds at most): waited for here, so that closing this iterator
            # leaves nothing behind, even if the event loop ends next.
            await stop_tasks(task)

    # -- tenants' schedules ------------------------------------------------------------------

    async def create_schedule(
        self,
        *,
        tenant_id: str,
        type: str,
        recurrence: Recurrence,
        payload: BaseModel | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a tenant's schedule; its first run is the recurrence's next tick after now.

        Raises:
            UnknownJobType, TenantRequired (system type), InvalidPayload, PayloadTooLarge.
        """
        job_type = self.registry.get(type)
        check_tenant(job_type, tenant_id)
        encoded = encode_payload(job_type, payload, self.settings.payload_max_bytes)
        await self._ensure_db()
        store = self.schedules_store()
        now = await store.database_now()
        return await store.insert_schedule(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "type": type,
                "payload": json.loads(encoded),
                **_recurrence_columns(recurrence),
                "next_run_at": recurrence.next_after(now),
            }
        )

    async def list_schedules(self, *, tenant_id: str | None = None) -> list[dict[str, Any]]:
        await self._ensure_db()
        return await self.schedules_store().list_schedules(_scope(tenant_id))

    async def get_schedule(
        self, schedule_id: UUID, *, tenant_id: str | None = None
    ) -> dict[str, Any]:
        await self._ensure_db()
        return await self.schedules_store().get_schedule(schedule_id, _scope(tenant_id))

    async def update_schedule(
        self,
        schedule_id: UUID,
        *,
        tenant_id: str | None = None,
        is_paused: bool | None = None,
        recurrence: Recurrence | None = None,
        payload: BaseModel | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Pause, resume, or change a schedule's recurrence or payload. A resumed or changed
        schedule's next run is its next tick after now (paused time is not made up)."""
        await self._ensure_db()
        store = self.schedules_store()
        current = await store.get_schedule(schedule_id, _scope(tenant_id))
        new_payload = current["payload"]
        if payload is not None:
            job_type = self.registry.get(current["type"])
            new_payload = json.loads(
                encode_payload(job_type, payload, self.settings.payload_max_bytes)
            )
        new_recurrence = recurrence or recurrence_of(current)
        paused = current["is_paused"] if is_paused is None else is_paused
        next_run_at = current["next_run_at"]
        if recurrence is not None or (current["is_paused"] and not paused):
            next_run_at = new_recurrence.next_after(await store.database_now())
        return await store.update_schedule(
            schedule_id,
            _scope(tenant_id),
            {
                "is_paused": paused,
                "payload": new_payload,
                **_recurrence_columns(new_recurrence),
                "next_run_at": next_run_at,
            },
        )

    async def delete_schedule(self, schedule_id: UUID, *, tenant_id: str | None = None) -> None:
        await self._ensure_db()
        await self.schedules_store().delete_schedule(schedule_id, _scope(tenant_id))

    # -- API tokens --------------------------------------------------------------------------

    async def create_token(
        self,
        *,
        tenant_id: str,
        scopes: Sequence[str],
        name: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Create an API token; returns its text (shown once, only a hash is stored) and
        record. ``tenant_id="*"`` makes an operator token.

        Raises:
            ConfigError: unknown scope or malformed tenant.
        """
        try:
            checked = check_scopes(list(scopes))
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if tenant_id != OPERATOR_TENANT and not _is_tenant_text(tenant_id):
            raise ConfigError("tenant must be 1-128 characters, or * for an operator token")
        await self._ensure_db()
        return await self.tokens_store().create_token(
            tenant_id=tenant_id, scopes=checked, name=name, expires_at=expires_at
        )

    async def revoke_token(self, token_id: str) -> None:
        await self._ensure_db()
        if not await self.tokens_store().revoke_token(token_id):
            raise NotFound(f"token {token_id} not found")

    async def list_tokens(self) -> list[dict[str, Any]]:
        await self._ensure_db()
        return await self.tokens_store().list_tokens()

    async def authenticate(self, token: str) -> Principal | None:
        await self._ensure_db()
        return await self.tokens_store().authenticate(token)

    # -- running -----------------------------------------------------------------------------

    def worker(
        self, *, queues: Sequence[str] | None = None, concurrency: int | None = None
    ) -> Worker:
        """A worker for this app (run it with ``await worker.run()`` or ``drain()``)."""
        interval = self.settings.schedule_interval_seconds
        system, user = self.schedulers()
        return Worker(
            settings=self.settings,
            registry=self.registry,
            db=self.database(),
            queues=queues,
            concurrency=concurrency,
            subscribers=self._subscribers,
            loops=[(interval, system.run_once), (interval, user.run_once)],
        )

    def schedulers(self) -> tuple[SystemScheduler, UserScheduler]:
        """The system and user schedulers (workers run both as loops)."""
        store = self.schedules_store()
        max_bytes = self.settings.payload_max_bytes
        return (
            SystemScheduler(
                store,
                self.registry,
                grace_seconds=self.settings.schedule_grace_seconds,
                payload_max_bytes=max_bytes,
            ),
            UserScheduler(store, self.registry, payload_max_bytes=max_bytes),
        )

    def migrate(self) -> MigrationReport:
        """Apply pending schema migrations (safe concurrently and repeatedly)."""
        with self.database().connect_sync("rota-migrate") as conn:
            return migrate(conn, self.settings.schema_name)

    # -- plumbing ----------------------------------------------------------------------------

    def database_url(self) -> str:
        """The configured URL, or the embedded server's (started on first use)."""
        with self._url_lock:
            if self._url is None:
                local = LocalPostgres(
                    Path(self.settings.data_dir) / "postgres",
                    find_bindir(self.settings.pg_bindir, prefer="embedded"),
                )
                self._url = local.ensure_running()
                self._local = local
                atexit.register(local.stop_if_started_here)
                log.info("embedded PostgreSQL running", extra={"url": self._url})
            return self._url

    def database(self) -> Database:
        if self._db is None:
            self._db = Database(self.database_url(), max_size=self.settings.pool_max_size)
        return self._db

    def jobs_store(self) -> JobStore:
        db = self.database()
        store = self._jobs
        if store is None or store.db is not db:  # one per database (a new one after close)
            store = self._jobs = JobStore(db, self.settings.schema_name)
        return store

    def claims_store(self) -> ClaimStore:
        """The app's claim store (its fair-claim connection is closed by ``close()``)."""
        if self._claims is None:
            self._claims = ClaimStore(self.database(), self.settings.schema_name)
        return self._claims

    def schedules_store(self) -> ScheduleStore:
        return ScheduleStore(self.database(), self.settings.schema_name)

    def tokens_store(self) -> TokenStore:
        return TokenStore(self.database(), self.settings.schema_name)

    def migration_version(self) -> tuple[int, int]:
        """(applied, latest) schema versions."""
        with self.database().connect_sync("rota-migrate") as conn:
            return current_version(conn, self.settings.schema_name), latest_version()

    async def _ensure_db(self) -> None:
        if self._db is None:
            await asyncio.to_thread(self.database)

    async def close(self) -> None:
        if self._claims is not None:
            await self._claims.close()
            self._claims = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    def stop_local_database(self) -> None:
        if self._local is not None:
            self._local.stop_if_started_here()

    def job_types(self) -> list[JobType]:
        return list(self.registry)


def _rate(value: RateLimit | tuple[int, float] | None) -> RateLimit | None:
    return RateLimit(*value) if isinstance(value, tuple) else value


def _recurrence_columns(recurrence: Recurrence) -> dict[str, Any]:
    return {
        "kind": recurrence.kind,
        "time_of_day": recurrence.time_of_day,
        "weekdays": list(recurrence.weekdays),
        "day_of_month": recurrence.day_of_month,
        "cron": recurrence.cron,
        "timezone": recurrence.timezone,
    }


def _is_tenant_text(tenant_id: str) -> bool:
    return 0 < len(tenant_id) <= TENANT_MAX_LENGTH and "\x00" not in tenant_id


def _scope(tenant_id: str | None) -> Scope:
    return Scope.operator() if tenant_id is None else Scope.tenant(tenant_id)


def load_app(spec: str) -> App:
    """``module:attribute`` -> the App it names."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--app must look like module:attribute, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import {module_name!r}: {error}") from None
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise ConfigError(f"{spec} is not a rota.App")
    return app
