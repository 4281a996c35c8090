"""JobStore: every statement about jobs, their events and runs. One method per .sql file."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from dataclasses import dataclass, fields
from datetime import datetime
from operator import itemgetter
from typing import Any, LiteralString, NamedTuple
from uuid import UUID

import psycopg
from psycopg import AsyncCursor, AsyncRawCursor, postgres
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.rows import BaseRowFactory, RowMaker, dict_row, tuple_row

from rota.core.job import EnqueuedJob, Job, JobStatus, NewJob
from rota.core.requests import JobRequest
from rota.core.states import CANCELLABLE, RETRYABLE_BY_OPERATOR
from rota.core.tenancy import Scope
from rota.errors import IdempotencyConflict, InvalidState, NotFound
from rota.store.db import AsyncConn, Database, SyncConn
from rota.store.errors import translate
from rota.store.queries import Queries

_JOB_FIELDS = {f.name for f in fields(Job)}


@dataclass(frozen=True, slots=True)
class Channels:
    """NOTIFY channels of one schema."""

    jobs: str
    outcomes: str
    control: str
    handoff: str  # "worker_id job_id": a job claimed for that worker at enqueue (ADR 0012)

    @classmethod
    def of(cls, schema: str) -> Channels:
        return cls(
            jobs=f"{schema}.jobs",
            outcomes=f"{schema}.outcomes",
            control=f"{schema}.control",
            handoff=f"{schema}.handoff",
        )


class Completion(NamedTuple):
    """One success to record (a tuple: made for every successful run, and a frozen
    dataclass's ``__init__`` costs several times more)."""

    id: UUID
    attempt: int
    result_json: str | None


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise translate(error) from None


def job_from_row(row: dict[str, Any]) -> Job:
    values = {k: v for k, v in row.items() if k in _JOB_FIELDS}
    values["status"] = JobStatus(values["status"])
    return Job(**values)


JobRow = tuple[Job | None, tuple[Any, ...]]

_JOB_ORDER = [f.name for f in fields(Job)]
_JOB_DEFAULTS: list[Any] = [f.default for f in fields(Job)]
_STATUS_AT = _JOB_ORDER.index("status")
_STATUSES = {status.value: status for status in JobStatus}


def job_rows(*extra: str) -> BaseRowFactory[JobRow]:
    """A row factory for the claims (the hot path): each row straight to a ``Job`` built from
    the row's tuple (None when the row's ``id`` is NULL), plus the ``extra`` columns, without
    a dict per row. The plan from columns to fields is made once per set of columns, read
    from the result's column names without building ``cursor.description``."""
    makers: dict[tuple[bytes, ...], RowMaker[JobRow]] = {}

    def factory(cursor: Any) -> RowMaker[JobRow]:
        result = cursor.pgresult
        key = tuple(result.fname(i) or b"" for i in range(result.nfields)) if result else ()
        maker = makers.get(key)
        if maker is None:
            maker = makers[key] = _job_row_maker([name.decode() for name in key], extra)
        return maker

    return factory


def _job_row_maker(names: list[str], extra: Sequence[str]) -> RowMaker[JobRow]:
    id_at = names.index("id")
    rest_of: Callable[[Sequence[Any]], tuple[Any, ...]] = (
        _items_of([names.index(name) for name in extra]) if extra else lambda _: ()
    )
    if all(name in names for name in _JOB_ORDER) and _PLAIN_INIT:  # the claims: every field
        build = _job_builder([names.index(name) for name in _JOB_ORDER])

        def make_job(values: Sequence[Any]) -> JobRow:
            if values[id_at] is None:
                return None, rest_of(values)
            return build(values), rest_of(values)

        return make_job
    # Fields the statement does not return take their defaults.
    plan = [
        (names.index(name), None) if name in names else (None, default)
        for name, default in zip(_JOB_ORDER, _JOB_DEFAULTS, strict=True)
    ]

    def make(values: Sequence[Any]) -> JobRow:
        if values[id_at] is None:
            return None, rest_of(values)
        args: list[Any] = [default if i is None else values[i] for i, default in plan]
        args[_STATUS_AT] = _STATUSES[args[_STATUS_AT]]
        return Job(*args), rest_of(values)

    return make


# Job's __init__ only sets its fields (no __post_init__): the claims may then set them directly.
_PLAIN_INIT = not hasattr(Job, "__post_init__")


def _job_builder(indexes: list[int]) -> Callable[[Sequence[Any]], Job]:
    """A function that makes a ``Job`` from a row whose fields are at ``indexes`` (in field
    order). A frozen dataclass sets each field through ``object.__setattr__`` by name (a
    claimed job took 6.7 us to build that way), and calling each slot's descriptor from
    Python still costs a C-level call per field (3.9 us). Instead the fields are stored on
    an instance of ``_JobSlots``, a class with the same slots and no ``__setattr__`` of its
    own, where each store is a plain attribute store (0.7 us for the 27), and the instance
    then becomes a ``Job`` by ``__class__`` assignment, which Python allows between classes
    of the same layout and checks (0.55 us). The function is written out once per column
    layout, the way dataclasses writes ``__init__``; only field names and integers go in."""
    scope: dict[str, Any] = {
        "new": object.__new__,
        "Slots": _JobSlots,
        "Job": Job,
        "set_class": object.__setattr__,
        "statuses": _STATUSES,
    }
    lines = ["def build(row):", "    job = new(Slots)"]
    for name, at in zip(_JOB_ORDER, indexes, strict=True):
        value = f"statuses[row[{at}]]" if name == "status" else f"row[{at}]"
        lines.append(f"    job.{name} = {value}")
    lines.append("    set_class(job, '__class__', Job)")
    lines.append("    return job")
    exec("\n".join(lines), scope)  # noqa: S102 - generated from Job's own field names
    built: Callable[[Sequence[Any]], Job] = scope["build"]
    return built


# Job's slots on a class that lets them be set (see _job_builder). Its layout must match Job's
# for the __class__ assignment; Python checks that and raises TypeError if not (a test builds
# one).
_JobSlots = type("_JobSlots", (), {"__slots__": Job.__slots__})


def _items_of(indexes: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values at ``indexes`` as a tuple, in C (``itemgetter``)."""
    if len(indexes) == 1:
        at = indexes[0]
        return lambda values: (values[at],)
    return itemgetter(*indexes)


# One factory per statement shape, so that its plans are kept between executions.
CLAIM_ROWS = job_rows()


class JobStore:
    """Reads and writes jobs in one schema."""

    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.schema = schema
        self.q = Queries(schema)
        self.channels = Channels.of(schema)
        # Per queue: when a single enqueue may try the hand-off again after one found no slot.
        self._handoff_retry_at: dict[str, float] = {}

    @asynccontextmanager
    async def _conn(self, conn: AsyncConn | None = None) -> AsyncIterator[AsyncConn]:
        if conn is not None:
            yield conn
            return
        with translated():
            async with self.db.connection() as pooled:
                yield pooled

    # -- enqueue ---------------------------------------------------------------------------

    async def insert_jobs(
        self, jobs: Sequence[NewJob], conn: AsyncConn | None = None
    ) -> list[EnqueuedJob]:
        """Insert in one statement; resolve idempotency-key matches in a second one. Both run
        in one transaction (the caller's, when a connection is given), so a conflict raised
        for one job of a batch leaves none of the batch behind."""
        async with self._conn(conn) as c, _atomic_if_needed(c, jobs):
            with translated():
                # A cursor of our own: the caller's connection may use any row factory.
                cursor = c.cursor(row_factory=dict_row)
                if _copyable(jobs):
                    return await self._copy(cursor, jobs)
                await cursor.execute(*self._insert(jobs))
                inserted = {row["id"] for row in await cursor.fetchall()}
                existing: list[dict[str, Any]] = []
                if len(inserted) < len(jobs):
                    await cursor.execute(
                        self.q.find_idempotent_jobs, _lookup_params(jobs, inserted)
                    )
                    existing = await cursor.fetchall()
            return _resolve(jobs, inserted, existing)

    async def insert_job(self, job: NewJob) -> EnqueuedJob:
        """One job on a pooled connection (``App.enqueue``): the single-row statement of
        ``insert_jobs`` without a batch's bookkeeping. Only a job whose idempotency key is
        already taken goes on to ``insert_jobs``, which looks up the job that holds it."""
        # The hand-off (ADR 0012) for a job due now without a key, unless its last try for
        # this queue found no worker offering a slot: then the plain insert, whose plan is
        # several times cheaper, until _HANDOFF_RETRY_SECONDS have passed. A try that found
        # the offered slots held by another statement does not back off.
        params = _single_insert_params(job, self.channels.jobs)
        handoff = (
            job.run_after is None
            and not job.delay_seconds
            and job.idempotency_key is None
            and self._handoff_retry_at.get(job.queue, 0.0) <= time.monotonic()
        )
        if handoff:
            statement = self.q.positional("insert_job_handoff")
            params["handoff_channel"] = self.channels.handoff
        else:
            statement = self.q.positional("insert_job")
        # Written out instead of ``self._conn()`` and ``translated()`` (the same take, give
        # and error translation): on this path their generator-based context managers cost
        # 58,000 instructions a call, 300,729 against 358,806 (bench/instructions.py).
        db = self.db
        try:
            conn, pool = await db.take()
            try:
                cursor = AsyncRawCursor(conn, row_factory=tuple_row)
                await cursor.execute(statement.text, statement.params(params))
                row = await cursor.fetchone()
            finally:
                await db.give(conn, pool)
        except psycopg.Error as error:
            raise translate(error) from None
        inserted = row is not None
        if handoff and row is not None and not row[2]:  # no worker offers a slot: back off
            self._handoff_retry_at[job.queue] = time.monotonic() + _HANDOFF_RETRY_SECONDS
        if inserted:
            return EnqueuedJob(job.id, job.type, job.tenant_id, job.trace_id, True)
        [enqueued] = await self.insert_jobs([job])
        return enqueued

    async def copy_jobs(self, jobs: Iterable[NewJob]) -> list[EnqueuedJob]:
        """Insert plain jobs (``copyable``: no idempotency key, no delay) by COPY on a pooled
        connection, taking each from ``jobs`` as it goes out: the server stores the first rows
        while later ones are still being built and validated, instead of waiting for the whole
        batch. An error raised by ``jobs`` aborts the COPY, so nothing is written."""
        async with self._conn() as c:
            with translated():
                return await self._copy(c.cursor(), jobs)

    async def _copy(self, cursor: AsyncCursor[Any], jobs: Iterable[NewJob]) -> list[EnqueuedJob]:
        enqueued: list[EnqueuedJob] = []
        by_queue: dict[str, list[UUID]] = {}
        # Binary COPY: the server reads each value as it is stored instead of parsing text.
        # The payload is JSON text already encoded and checked; this cursor sends it as jsonb.
        cursor.adapters.register_dumper(None, _JsonbFromText)
        conn = cursor.connection
        # The wake-up goes in the COPY's transaction (the caller's, or one of its own on a
        # connection in autocommit): sent at its commit, never for rows that were not stored.
        async with conn.transaction() if conn.autocommit else nullcontext():
            async with cursor.copy(self.q.copy_jobs) as copy:
                copy.set_types(_COPY_TYPES)
                for j in jobs:
                    row = (
                        j.id, j.type, j.queue, j.tenant_id, j.actor_id, j.trace_id,
                        j.traceparent, j.request_id, j.correlation_id, j.payload_json,
                        j.priority, j.max_attempts,
                    )  # fmt: skip
                    await copy.write_row(row)
                    enqueued.append(EnqueuedJob(j.id, j.type, j.tenant_id, j.trace_id, True))
                    by_queue.setdefault(j.queue, []).append(j.id)
            await cursor.execute(
                self.q.notify_jobs,
                {"jobs_channel": self.channels.jobs, "payloads": _wake_up_payloads(by_queue)},
            )
        return enqueued

    def insert_jobs_sync(self, jobs: Sequence[NewJob], conn: SyncConn) -> list[EnqueuedJob]:
        """The same two statements on a synchronous connection (``enqueue_sync``)."""
        with _atomic_if_needed_sync(conn, jobs):
            with translated():
                inserted = {r["id"] for r in conn.execute(*self._insert(jobs))}
                existing: list[dict[str, Any]] = []
                if len(inserted) < len(jobs):
                    params = _lookup_params(jobs, inserted)
                    existing = conn.execute(self.q.find_idempotent_jobs, params).fetchall()
            return _resolve(jobs, inserted, existing)

    def _insert(self, jobs: Sequence[NewJob]) -> tuple[LiteralString, dict[str, Any]]:
        if len(jobs) == 1:
            return self.q.insert_job, _single_insert_params(jobs[0], self.channels.jobs)
        return self.q.insert_jobs, _insert_params(jobs, self.channels.jobs)

    # -- the worker's statements -------------------------------------------------------------

    async def claim_jobs(
        self,
        *,
        worker_id: UUID,
        queues: Sequence[str],
        excluded_types: Sequence[str],
        limit: int,
        lease_seconds: float,
    ) -> list[Job]:
        params = {
            "worker_id": worker_id,
            "queues": list(queues),
            "excluded_types": list(excluded_types),
            "limit": limit,
            "lease_seconds": lease_seconds,
        }
        return await self._claim(self.q.claim_jobs, params)

    async def claim_jobs_by_id(
        self,
        *,
        worker_id: UUID,
        ids: Sequence[UUID],
        queues: Sequence[str],
        limit: int,
        lease_seconds: float,
        conn: AsyncConn | None = None,
    ) -> list[Job]:
        """Claim the named jobs that are still queued and due (see claim_jobs_by_id.sql), on
        ``conn`` when given (the worker's claim connection), else on a pooled one."""
        params = {
            "worker_id": worker_id,
            "ids": list(ids),
            "queues": list(queues),
            "limit": limit,
            "lease_seconds": lease_seconds,
        }
        return await self._claim(self.q.claim_jobs_by_id, params, conn)

    async def _claim(
        self, statement: LiteralString, params: dict[str, Any], conn: AsyncConn | None = None
    ) -> list[Job]:
        """Run a claim statement (on a pooled connection unless given one); rows in binary,
        read as Jobs."""
        async with self._conn(conn) as c:
            with translated():
                cursor = c.cursor(row_factory=CLAIM_ROWS)
                await cursor.execute(statement, params, binary=True)
                return [job for job, _ in await cursor.fetchall() if job is not None]

    async def complete_jobs(
        self, worker_id: UUID, done: Sequence[Completion], conn: AsyncConn | None = None
    ) -> list[bool]:
        """Mark runs succeeded; returns, for each completion in order, whether its run was still
        this worker's to complete (False: fenced out). Positions, not ids, come back: small
        integers are cheaper to read and look up than UUIDs.

        The hot path of every successful run, so its parameters are cheap to send: ids and
        attempts as array literals (one text each, parsed by the server), results only when
        some run returned one (NULL otherwise: ``unnest`` pads it)."""
        statement = self.q.positional("complete_jobs")
        results = [d.result_json for d in done]
        params = statement.params(
            {
                "worker_id": worker_id,
                # 32 hex digits each, formatted in C (UUID.hex is a Python property)
                "ids": "{" + ",".join([format(d.id.int, "032x") for d in done]) + "}",
                "attempts": "{" + ",".join([str(int(d.attempt)) for d in done]) + "}",
                "results": results if any(r is not None for r in results) else None,
                "outcome_channel": self.channels.outcomes,
            }
        )
        async with self._conn(conn) as c:
            with translated():
                cursor = AsyncRawCursor(c, row_factory=tuple_row)
                await cursor.execute(statement.text, params)
                took = [False] * len(done)
                for position, _ in await cursor.fetchall():
                    took[position - 1] = True
                return took

    async def finish_job(
        self,
        *,
        worker_id: UUID,
        job_id: UUID,
        attempt: int,
        status: JobStatus,
        error: dict[str, Any] | None,
        delay_seconds: float = 0.0,
    ) -> bool:
        """Apply a non-success ending chosen by the core; False when fenced out."""
        params = {
            "worker_id": worker_id,
            "id": job_id,
            "attempt": attempt,
            "status": status.value,
            "error": json.dumps(error) if error is not None else None,
            "error_code": error.get("code") if error else None,
            "message": error.get("message") if error else None,
            "delay_seconds": delay_seconds,
            "outcome_channel": self.channels.outcomes,
        }
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.finish_job, params)
                return await cursor.fetchone() is not None

    async def record_stale_write(self, job_id: UUID, attempt: int, message: str) -> None:
        async with self._conn() as c:
            with translated():
                await c.execute(
                    self.q.record_stale_write,
                    {"id": job_id, "attempt": attempt, "message": message},
                )

    async def record_progress(
        self, *, worker_id: UUID, job_id: UUID, attempt: int, progress: int, message: str | None
    ) -> bool:
        params = {
            "worker_id": worker_id,
            "id": job_id,
            "attempt": attempt,
            "progress": progress,
            "message": message,
        }
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.record_progress, params)
                return await cursor.fetchone() is not None

    async def extend_leases(
        self,
        conn: AsyncConn,
        *,
        worker_id: UUID,
        held: Sequence[tuple[UUID, int]],
        lease_seconds: float,
    ) -> dict[UUID, bool]:
        """Heartbeat on the heartbeat's own connection: id -> cancel_requested for every
        lease still held."""
        params = {
            "worker_id": worker_id,
            "ids": [job_id for job_id, _ in held],
            "attempts": [attempt for _, attempt in held],
            "lease_seconds": lease_seconds,
        }
        with translated():
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(self.q.extend_leases, params)
            rows = await cursor.fetchall()
        return {row["id"]: bool(row["cancel_requested"]) for row in rows}

    async def rescue_jobs(self, limit: int) -> list[dict[str, Any]]:
        params = {
            "limit": limit,
            "jobs_channel": self.channels.jobs,
            "outcome_channel": self.channels.outcomes,
        }
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.rescue_jobs, params)
                return await cursor.fetchall()

    async def release_jobs(
        self, worker_id: UUID, held: Sequence[tuple[UUID, int]], message: str
    ) -> set[UUID]:
        params = {
            "message": message,
            "worker_id": worker_id,
            "ids": [job_id for job_id, _ in held],
            "attempts": [attempt for _, attempt in held],
            "jobs_channel": self.channels.jobs,
        }
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.release_jobs, params)
                return {row["id"] for row in await cursor.fetchall()}

    # -- the hand-off at enqueue (ADR 0012) ---------------------------------------------------

    async def offer_slots(
        self, worker_id: UUID, slots: Mapping[str, int], lease_seconds: float
    ) -> None:
        """Set this worker's free slots per queue (0 removes the queue's offer)."""
        params = {
            "worker_id": worker_id,
            "queues": list(slots),
            "slots": list(slots.values()),
            "lease_seconds": lease_seconds,
        }
        async with self._conn() as c:
            with translated():
                await c.execute(self.q.offer_slots, params)

    async def withdraw_slots(self, worker_id: UUID) -> None:
        async with self._conn() as c:
            with translated():
                await c.execute(self.q.withdraw_slots, {"worker_id": worker_id})

    async def get_handed_off_job(
        self, worker_id: UUID, job_id: UUID, conn: AsyncConn | None = None
    ) -> Job | None:
        """The job handed to this worker, if it still holds it."""
        jobs = await self._claim(
            self.q.get_handed_off_job, {"id": job_id, "worker_id": worker_id}, conn
        )
        return jobs[0] if jobs else None

    async def held_jobs(self, worker_id: UUID) -> list[tuple[UUID, int]]:
        """(id, attempt) of every job this worker holds a lease on."""
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.held_jobs, {"worker_id": worker_id})
                return [(row["id"], row["attempt"]) for row in await cursor.fetchall()]

    async def prune_jobs(self, retention_seconds: float, limit: int) -> int:
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(
                    self.q.prune_jobs, {"retention_seconds": retention_seconds, "limit": limit}
                )
                return len(await cursor.fetchall())

    # -- reads and operator actions ----------------------------------------------------------

    async def get_job(self, job_id: UUID, scope: Scope) -> Job:
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.get_job, {"id": job_id, **scope.params()})
                row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return job_from_row(row)

    async def list_jobs(
        self,
        scope: Scope,
        *,
        status: str | None = None,
        type: str | None = None,
        queue: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        before: tuple[datetime, UUID] | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """A page newest first; ``before`` is the (created_at, id) of the previous page's last
        job (keyset pagination)."""
        params = {
            **scope.params(),
            "status": status,
            "type": type,
            "queue": queue,
            "created_after": created_after,
            "created_before": created_before,
            "before_created_at": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        }
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.list_jobs, params, prepare=False)
                return [job_from_row(row) for row in await cursor.fetchall()]

    async def list_job_events(
        self, job_id: UUID, scope: Scope, *, after_id: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        params = {"id": job_id, "after_id": after_id, "limit": limit, **scope.params()}
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.list_job_events, params)
                return await cursor.fetchall()

    async def count_jobs(self, scope: Scope) -> list[dict[str, Any]]:
        async with self._conn() as c:
            with translated():
                cursor = await c.execute(self.q.count_jobs, scope.params(), prepare=False)
                return await cursor.fetchall()

    async def cancel_job(self, job_id: UUID, scope: Scope, message: str) -> JobStatus:
        """Cancel a queued job now, or ask a running one to stop. Returns the status after."""
        async with self._conn() as c, c.transaction():
            with translated():
                job = await self._lock_job(c, job_id, scope)
                if job.status not in CANCELLABLE:
                    raise InvalidState(
                        f"job {job_id} is {job.status.value}; only queued or running jobs "
                        "can be cancelled"
                    )
                if job.status is JobStatus.QUEUED:
                    await c.execute(
                        self.q.cancel_queued_job,
                        {
                            "id": job_id,
                            "message": message,
                            "outcome_channel": self.channels.outcomes,
                        },
                    )
                    return JobStatus.CANCELLED
                if job.status is JobStatus.RUNNING:
                    await c.execute(
                        self.q.request_cancel,
                        {
                            "id": job_id,
                            "message": message,
                            "control_channel": self.channels.control,
                        },
                    )
                    return JobStatus.RUNNING
        raise InvalidState(
            f"job {job_id} is {job.status.value}; only queued or running jobs can be cancelled"
        )

    async def retry_job(
        self, job_id: UUID, scope: Scope, *, extra_attempts: int, message: str
    ) -> JobStatus:
        async with self._conn() as c, c.transaction():
            with translated():
                job = await self._lock_job(c, job_id, scope)
                if job.status in RETRYABLE_BY_OPERATOR:
                    await c.execute(
                        self.q.retry_job,
                        {
                            "id": job_id,
                            "extra_attempts": extra_attempts,
                            "from_status": job.status.value,
                            "message": message,
                            "jobs_channel": self.channels.jobs,
                        },
                    )
                    return JobStatus.QUEUED
        raise InvalidState(
            f"job {job_id} is {job.status.value}; only failed, poisoned or cancelled jobs "
            "can be retried"
        )

    async def _lock_job(self, conn: AsyncConn, job_id: UUID, scope: Scope) -> Job:
        cursor = await conn.execute(self.q.lock_job, {"id": job_id, **scope.params()})
        row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return job_from_row(row)


def _needs_transaction(jobs: Sequence[NewJob]) -> bool:
    # A single insert is atomic on its own; only a batch with keys can fail half-way.
    return len(jobs) > 1 and any(j.idempotency_key is not None for j in jobs)


def _atomic_if_needed(conn: AsyncConn, jobs: Sequence[NewJob]) -> AbstractAsyncContextManager[Any]:
    return conn.transaction() if _needs_transaction(jobs) else nullcontext()


def _atomic_if_needed_sync(conn: SyncConn, jobs: Sequence[NewJob]) -> AbstractContextManager[Any]:
    return conn.transaction() if _needs_transaction(jobs) else nullcontext()


class _JsonbFromText(Dumper):
    """jsonb in binary form from JSON text that is already encoded and checked
    (``NewJob.payload_json``): a version byte, 1, then the text. Registered without a Python
    type, so only a binary COPY whose column types name jsonb uses it."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        # The server reads the text in the session's client encoding, as it reads text values.
        self._encoding = self.connection.info.encoding if self.connection else "utf-8"

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode(self._encoding)


# The columns of copy_jobs.sql, in its order.
_COPY_TYPES = [
    "uuid", "text", "text", "text", "text", "text", "text", "text", "text", "jsonb", "int2",
    "int4",
]  # fmt: skip

# A batch this big goes by COPY when it can (see copy_jobs.sql); below it, one INSERT costs less.
COPY_MIN_JOBS = 64


def _copyable(jobs: Sequence[NewJob]) -> bool:
    return len(jobs) >= COPY_MIN_JOBS and all(
        j.idempotency_key is None and j.run_after is None and not j.delay_seconds for j in jobs
    )


def copyable(requests: Sequence[JobRequest]) -> bool:
    """Whether a batch of ``JobRequest``s can go by COPY (``copy_jobs``): big enough, and
    every job plain (no idempotency key, due now)."""
    return len(requests) >= COPY_MIN_JOBS and all(
        r.idempotency_key is None and r.run_after is None for r in requests
    )


# After a single enqueue found no worker offering a slot for its queue, how long the next ones
# insert without trying the hand-off (ADR 0012): its statement costs the server about 0.1 ms
# more than the plain insert, which W1 single measured as 10-15%.
_HANDOFF_RETRY_SECONDS = 1.0

# A wake-up NOTIFY names the new jobs of its queue when there are at most this many (ADR 0007),
# as insert_jobs.sql does.
_NAMED_WAKE_UP = 16


def _wake_up_payloads(by_queue: dict[str, list[UUID]]) -> list[str]:
    """One wake-up per queue: the queue, then its new due jobs' ids when there are few."""
    return [
        f"{queue} {','.join(str(i) for i in ids)}" if len(ids) <= _NAMED_WAKE_UP else queue
        for queue, ids in by_queue.items()
    ]


def _single_insert_params(job: NewJob, jobs_channel: str) -> dict[str, Any]:
    return {
        "jobs_channel": jobs_channel,
        "id": job.id,
        "type": job.type,
        "queue": job.queue,
        "tenant_id": job.tenant_id,
        "actor_id": job.actor_id,
        "trace_id": job.trace_id,
        "traceparent": job.traceparent,
        "request_id": job.request_id,
        "correlation_id": job.correlation_id,
        "idempotency_key": job.idempotency_key,
        "payload": job.payload_json,
        "priority": job.priority,
        "run_after": job.run_after,
        "max_attempts": job.max_attempts,
        "delay_seconds": job.delay_seconds,
    }


def _insert_params(jobs: Sequence[NewJob], jobs_channel: str) -> dict[str, Any]:
    return {
        "jobs_channel": jobs_channel,
        "ids": [j.id for j in jobs],
        "types": [j.type for j in jobs],
        "queues": [j.queue for j in jobs],
        "tenant_ids": [j.tenant_id for j in jobs],
        "actor_ids": [j.actor_id for j in jobs],
        "trace_ids": [j.trace_id for j in jobs],
        "traceparents": [j.traceparent for j in jobs],
        "request_ids": [j.request_id for j in jobs],
        "correlation_ids": [j.correlation_id for j in jobs],
        "idempotency_keys": [j.idempotency_key for j in jobs],
        "payloads": [j.payload_json for j in jobs],
        "priorities": [j.priority for j in jobs],
        "run_afters": [j.run_after for j in jobs],
        "max_attempts": [j.max_attempts for j in jobs],
        "delay_seconds": [j.delay_seconds for j in jobs],
    }


def _lookup_params(jobs: Sequence[NewJob], inserted: set[UUID]) -> dict[str, list[Any]]:
    missing = [j for j in jobs if j.id not in inserted]
    return {
        "tenant_ids": [j.tenant_id for j in missing],
        "types": [j.type for j in missing],
        "idempotency_keys": [j.idempotency_key for j in missing],
    }


def _resolve(
    jobs: Sequence[NewJob], inserted: set[UUID], existing: list[dict[str, Any]]
) -> list[EnqueuedJob]:
    """Pair each requested job with the row that now holds it; a key reused with a different
    payload is a conflict."""
    by_key = {(r["tenant_id"] or "", r["type"], r["idempotency_key"]): r for r in existing}
    results: list[EnqueuedJob] = []
    for job in jobs:
        if job.id in inserted:
            results.append(EnqueuedJob(job.id, job.type, job.tenant_id, job.trace_id, True))
            continue
        row = by_key.get((job.tenant_id or "", job.type, job.idempotency_key))
        if row is None:
            # The winner was deleted between our two statements (pruned or rolled back).
            raise IdempotencyConflict(
                f"idempotency key {job.idempotency_key!r} is in use by a job that just changed;"
                " retry the enqueue"
            )
        if row["payload"] != json.loads(job.payload_json):
            raise IdempotencyConflict(
                f"idempotency key {job.idempotency_key!r} was used for {job.type} with a "
                "different payload",
                job_id=str(row["id"]),
            )
        results.append(EnqueuedJob(row["id"], job.type, job.tenant_id, row["trace_id"], False))
    return results
