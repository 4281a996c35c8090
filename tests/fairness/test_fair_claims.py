"""Fair claiming across tenants, weights and limits, driven claim by claim (issue 5)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

import rota
from rota.core.limits import RateLimit
from rota.store.claims import FairClaim
from rota.store.queries import Queries

Conn = psycopg.AsyncConnection[Any]


def build(make_app: Callable[..., rota.App], **settings: Any) -> rota.App:
    app = make_app(**settings)

    @app.job("fair.work")
    async def work(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    @app.job("fair.capped", global_concurrency=3)
    async def capped(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    @app.job("fair.system", system=True)
    async def system(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def backlog(app: rota.App, tenant: str, count: int, type: str = "fair.work") -> None:
    for start in range(0, count, 1000):
        await app.enqueue_many(
            [
                rota.JobRequest(type, {"n": n}, tenant_id=tenant)
                for n in range(start, min(count, start + 1000))
            ]
        )


class Claims:
    """Claims as one worker would, keeping its cursor between claims."""

    def __init__(self, app: rota.App, **options: Any) -> None:
        self.store = app.claims_store()
        self.worker_id = uuid.uuid4()
        self.cursor = ""
        self.options = options

    async def take(self, limit: int) -> list[rota.Job]:
        jobs, self.cursor, _ = await self.store.claim_fair(
            FairClaim(
                queue="default",
                cursor=self.cursor,
                limit=limit,
                worker_id=self.worker_id,
                lease_seconds=60,
                **self.options,
            )
        )
        return jobs


async def test_a_small_tenant_is_served_within_a_few_claims_of_a_big_backlog(
    make_app: Callable[..., rota.App],
) -> None:
    app = build(make_app)
    await backlog(app, "acme-big", 5000)
    await backlog(app, "zeta-small", 10)
    claims = Claims(app)
    small_served = 0
    rounds = 0
    while small_served < 10:
        rounds += 1
        small_served += sum(j.tenant_id == "zeta-small" for j in await claims.take(8))
    # Round robin: the small tenant gets half of every claim while both have work.
    assert rounds <= 3
    await app.close()


async def test_a_lone_tenant_still_gets_full_batches(make_app: Callable[..., rota.App]) -> None:
    app = build(make_app)
    await backlog(app, "solo", 100)
    claims = Claims(app)
    assert len(await claims.take(25)) == 25
    await app.close()


async def test_system_jobs_take_their_turn_in_a_backlog_of_tenants_jobs(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    """System jobs have no tenant: the walk visits them as the tenant before every other
    (their key, '', sorts first), with the open claim and with the one that counts limits."""
    app = build(make_app)
    for options in ({}, {"type_caps": {"fair.capped": 3}}):
        await db.execute("TRUNCATE jobs, job_events")
        await backlog(app, "acme", 500)
        await app.enqueue_many([rota.JobRequest("fair.system", {"n": n}) for n in range(4)])
        await backlog(app, "zeta", 500)
        claims = Claims(app, **options)
        taken: Counter[str | None] = Counter()
        for _ in range(4):
            taken.update(job.tenant_id for job in await claims.take(9))
        assert taken[None] == 4, (options, taken)
    await app.close()


async def test_a_worker_started_after_system_jobs_were_queued_runs_them(
    make_app: Callable[..., rota.App],
) -> None:
    app = build(make_app)
    await app.enqueue_many([rota.JobRequest("fair.system", {"n": n}) for n in range(3)])
    await backlog(app, "acme", 5)
    assert await app.worker().drain() == 8
    counts = {row["status"]: row["jobs"] for row in await app.count_jobs()}
    assert counts == {"succeeded": 8}
    await app.close()


async def test_weights_give_proportional_shares(make_app: Callable[..., rota.App]) -> None:
    app = build(make_app)
    await app.set_tenant_limits("gold", weight=3)
    await backlog(app, "gold", 2000)
    await backlog(app, "basic", 2000)
    claims = Claims(app)
    taken: Counter[str | None] = Counter()
    while sum(taken.values()) < 2000:
        taken.update(job.tenant_id for job in await claims.take(20))
    share = taken["gold"] / sum(taken.values())
    assert 0.70 <= share <= 0.80, taken
    await app.close()


async def test_a_tenant_cap_holds_across_claimers(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    await app.set_tenant_limits("capped", max_running=4)
    await backlog(app, "capped", 50)
    await backlog(app, "free", 50)
    claimers = [Claims(app, lock_tenants=True) for _ in range(3)]
    for claimer in claimers:
        await claimer.take(10)
    running = await (
        await db.execute(
            "SELECT tenant_id, count(*) AS n FROM jobs WHERE status = 'running' GROUP BY 1"
        )
    ).fetchall()
    by_tenant = {row["tenant_id"]: row["n"] for row in running}
    assert by_tenant["capped"] == 4
    assert by_tenant["free"] > 4
    await app.close()


async def test_the_default_tenant_cap_applies_to_every_tenant(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    await app.set_tenant_limits("vip", max_running=6)
    for tenant in ("a", "b", "vip"):
        await backlog(app, tenant, 20)
    claims = Claims(app, lock_tenants=True, default_max_running=2)
    for _ in range(5):
        await claims.take(10)
    rows = await (
        await db.execute(
            "SELECT tenant_id, count(*) AS n FROM jobs WHERE status = 'running' GROUP BY 1"
        )
    ).fetchall()
    assert {row["tenant_id"]: row["n"] for row in rows} == {"a": 2, "b": 2, "vip": 6}
    await app.close()


async def test_a_global_type_cap_holds(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = build(make_app)
    for tenant in ("a", "b", "c"):
        await backlog(app, tenant, 10, type="fair.capped")
    claims = [Claims(app, type_caps={"fair.capped": 3}) for _ in range(2)]
    for claimer in claims * 2:
        await claimer.take(10)
    row = await (
        await db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'running'")
    ).fetchone()
    assert row is not None
    assert row["n"] == 3
    await app.close()


async def test_held_back_jobs_stay_queued_without_using_attempts(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    await app.set_tenant_limits("capped", max_running=1)
    await backlog(app, "capped", 5)
    claims = Claims(app, lock_tenants=True)
    assert len(await claims.take(5)) == 1
    rows = await (
        await db.execute("SELECT status, attempt, count(*) AS n FROM jobs GROUP BY 1, 2 ORDER BY 1")
    ).fetchall()
    assert [(r["status"], r["attempt"], r["n"]) for r in rows] == [
        ("queued", 0, 4),
        ("running", 1, 1),
    ]
    await app.close()


async def test_a_rate_limit_spaces_claims(make_app: Callable[..., rota.App]) -> None:
    app = build(make_app)
    await backlog(app, "a", 20)
    limit = RateLimit(runs=2, per_seconds=3600)  # one start every 30 minutes
    claims = Claims(app, rate_limits={"fair.work": limit})
    first = await claims.take(10)
    second = await claims.take(10)
    assert len(first) == 1
    assert second == []
    await app.close()


async def test_a_due_job_behind_many_tenants_with_later_jobs_runs(
    make_app: Callable[..., rota.App],
) -> None:
    """Issue 5: the walk used to stop at the first tenants, none of them due, forever."""
    app = build(make_app)
    from datetime import timedelta

    for n in range(20):
        await app.enqueue("fair.work", {}, tenant_id=f"a{n:02d}", run_after=timedelta(hours=1))
    due = await app.enqueue("fair.work", {}, tenant_id="zz")
    assert await app.worker(concurrency=10).drain() == 1
    assert (await app.get_job(due.id)).status is rota.JobStatus.SUCCEEDED
    await app.close()


async def test_jobs_held_back_by_a_cap_do_not_spin_a_rate_limited_drain(
    make_app: Callable[..., rota.App],
) -> None:
    """Issue 5: a rate limit that allowed starts reported 'try again now' while a tenant cap
    held the job back, and drain() claimed in a busy loop without end."""
    app = make_app()

    @app.job("fair.limited", rate_limit=(100, 1.0))
    async def limited(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    await app.set_tenant_limits("paused", max_running=0)
    await app.enqueue("fair.limited", {}, tenant_id="paused")
    import asyncio

    assert await asyncio.wait_for(app.worker().drain(), timeout=10) == 0
    await app.close()


async def test_a_per_tenant_rate_limit_holds_each_tenant_separately(
    make_app: Callable[..., rota.App],
) -> None:
    app = build(make_app)
    for tenant in ("a", "b"):
        await backlog(app, tenant, 5)
    limit = RateLimit(runs=1, per_seconds=3600)  # one start per tenant per hour
    claims = Claims(app, tenant_rate_limits={"fair.work": limit})
    first = await claims.take(10)
    assert sorted(job.tenant_id or "" for job in first) == ["a", "b"]
    assert await claims.take(10) == []
    await app.close()


class TenantHeld:
    """Another claimer in the middle of its claim: it holds a tenant's claim lock."""

    def __init__(self, postgres_url: str, schema: str, tenant: str) -> None:
        self.url, self.key = postgres_url, f'"{schema}".tenant:{tenant}'

    async def __aenter__(self) -> TenantHeld:
        self.conn = await psycopg.AsyncConnection.connect(self.url)
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self.key,)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.rollback()
        await self.conn.close()


async def test_a_claim_kept_from_a_busy_tenant_retries_soon_not_at_the_next_poll(
    make_app: Callable[..., rota.App], postgres_url: str, schema: str
) -> None:
    """With tenant caps the claim try-locks each tenant it visits; one another claimer holds
    is skipped, and the claimer is told to try again within tens of milliseconds."""
    app = build(make_app, tenant_max_running=100)
    await backlog(app, "acme", 20)
    store = app.claims_store()
    claim = FairClaim(
        queue="default", cursor="", limit=10, worker_id=uuid.uuid4(), lease_seconds=60,
        default_max_running=100, lock_tenants=True,
    )  # fmt: skip
    async with TenantHeld(postgres_url, schema, "acme"):
        jobs, _, wake_in = await store.claim_fair(claim)
        assert jobs == []
        assert wake_in is not None
        assert 0 < wake_in <= 0.05
    jobs, _, wake_in = await store.claim_fair(claim)
    assert len(jobs) == 10
    assert wake_in is None
    await app.close()


async def test_type_rate_limits_alone_do_not_lock_tenants(
    make_app: Callable[..., rota.App], postgres_url: str, schema: str
) -> None:
    """A rate limit per type is counted on its own row; claims for it need no tenant lock,
    so a tenant another claimer is working on is not skipped."""
    app = build(make_app)
    await backlog(app, "acme", 20)
    claims = Claims(app, rate_limits={"fair.other": RateLimit(runs=5, per_seconds=1)})
    async with TenantHeld(postgres_url, schema, "acme"):
        assert len(await claims.take(10)) == 10
    await app.close()


async def test_the_claim_without_limits_chooses_what_the_claim_with_them_would(
    make_app: Callable[..., rota.App], db: Conn, schema: str
) -> None:
    """claim_jobs_fair_open.sql, used when no type cap or rate limit applies, takes the jobs
    claim_jobs_fair.sql takes with empty limits: same walk, weights, rounds and order."""
    app = build(make_app)
    await app.set_tenant_limits("heavy", weight=3)
    for tenant, count in (("heavy", 40), ("light", 5), ("mid", 12), ("zed", 1)):
        await backlog(app, tenant, count)
    q = Queries(schema)
    params: dict[str, Any] = {
        "tenants": None,
        "queue": "default",
        "cursor": "",
        "tenant_count": 10,
        "max_steps": 20,
        "limit": 20,
        "worker_id": uuid.uuid4(),
        "lease_seconds": 60,
        "excluded_types": [],
        "default_weight": 1,
        "default_max_running": None,
    }
    names = ["limited_types", "type_caps", "type_grants", "pair_types", "pair_tenants"]
    limits: dict[str, list[Any]] = {name: [] for name in [*names, "pair_grants"]}
    chosen = {}
    for name, text, values in (
        ("full", q.claim_jobs_fair, {**params, **limits}),
        ("open", q.claim_jobs_fair_open, params),
    ):
        async with db.transaction(force_rollback=True):
            rows = await (await db.execute(text, values)).fetchall()
        # Sorted: both return the claimed jobs by run_after, and a batch's jobs share one.
        chosen[name] = sorted((row["tenant_id"], row["id"], row["next_cursor"]) for row in rows)
    assert chosen["open"] == chosen["full"]
    # Rounds of 6 (weights 3 + 1 + 1 + 1) until 20: four rounds give 21 candidates, and the
    # last in round and tenant order (mid's fourth) is left for the next claim.
    tenants = Counter(tenant for tenant, _, _ in chosen["open"])
    assert tenants == {"heavy": 12, "light": 4, "mid": 3, "zed": 1}
    await app.close()
