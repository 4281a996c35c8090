"""A small multi-tenant app that shows rota's job life cycle within seconds.

``demo.ping`` answers at once, ``demo.report`` reports progress, ``demo.reminder`` logs with
its tenant's context, ``demo.flaky`` fails on purpose until it is poisoned, and
``demo.cleanup`` is a system job (no tenant) run by an hourly schedule.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

import rota

app = rota.App()

TENANTS = ("acme", "globex", "initech")


class Ping(BaseModel):
    message: str = Field(default="ping", max_length=200)


class ReportInput(BaseModel):
    report_id: str = Field(max_length=100)
    rows: int = Field(default=120, ge=0, le=1_000_000)


class Reminder(BaseModel):
    user_id: str = Field(max_length=100)
    text: str = Field(max_length=500)


class Flaky(BaseModel):
    fail_times: int = Field(default=99, ge=0)


@app.job("demo.ping")
async def ping(ctx: rota.JobContext, payload: Ping) -> dict[str, str]:
    return {"reply": "pong", "echo": payload.message}


@app.job("demo.report", queue="reports", timeout=60, concurrency=2)
async def generate_report(ctx: rota.JobContext, payload: ReportInput) -> dict[str, Any]:
    for step in range(1, 6):
        ctx.raise_if_cancelled()
        await asyncio.sleep(0.4)
        await ctx.progress(step * 20, f"step {step} of 5")
    return {"report_id": payload.report_id, "rows": payload.rows}


@app.job("demo.reminder")
def send_reminder(ctx: rota.JobContext, payload: Reminder) -> dict[str, str | None]:
    ctx.logger.info("sending reminder", extra={"user_id": payload.user_id})
    return {"sent_to": payload.user_id, "tenant": ctx.tenant_id}


@app.job(
    "demo.flaky",
    max_attempts=3,
    backoff=rota.Backoff(base=timedelta(seconds=0.5), cap=timedelta(seconds=2)),
)
async def flaky(ctx: rota.JobContext, payload: Flaky) -> dict[str, int]:
    if ctx.attempt <= payload.fail_times:
        raise RuntimeError(f"attempt {ctx.attempt} failed on purpose")
    return {"succeeded_on_attempt": ctx.attempt}


@app.job("demo.cleanup", system=True)
async def cleanup(ctx: rota.JobContext, payload: dict[str, Any]) -> dict[str, int]:
    return {"removed": 0}


app.schedule("demo.cleanup", cron="0 * * * *", on_missed="run_once")


async def enqueue_samples(target: rota.App, round_number: int = 0) -> int:
    """Enqueue one round of sample jobs for every demo tenant; returns how many."""
    requests: list[rota.JobRequest] = []
    for tenant in TENANTS:
        requests += [
            rota.JobRequest("demo.ping", Ping(message=f"hello {tenant}"), tenant_id=tenant),
            rota.JobRequest(
                "demo.report",
                ReportInput(report_id=f"{tenant}-{round_number}"),
                tenant_id=tenant,
                actor_id="user_1",
                idempotency_key=f"report-{tenant}-{round_number}",
            ),
            rota.JobRequest(
                "demo.reminder",
                Reminder(user_id=f"{tenant}-user", text="standup at 10"),
                tenant_id=tenant,
                run_after=timedelta(seconds=2),
            ),
        ]
    requests.append(rota.JobRequest("demo.flaky", Flaky(), tenant_id=TENANTS[0]))
    await target.enqueue_many(requests)
    return len(requests)
