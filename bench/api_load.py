"""Load the HTTP API from a second process: requests/s and latency of enqueue and status reads.

Runs ``--concurrency`` tasks on one httpx.AsyncClient for ``--seconds`` against
``POST /v1/tenants/{tenant}/jobs`` (type ``demo.ping``), then as long against
``GET /v1/tenants/{tenant}/jobs/{id}`` for the jobs it created, and prints a table.

    rota token create --tenant acme --scope jobs:read --scope jobs:write
    rota api --port 8000 &
    python bench/api_load.py --url http://127.0.0.1:8000 --token rota_... --tenant acme

It only talks to the URL it is given, and only on a loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass
class Sample:
    """What one phase measured: latencies of answered requests, and the failures."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def run_phase(
    client: httpx.AsyncClient,
    name: str,
    call: Call,
    *,
    seconds: float,
    concurrency: int,
    expected: set[int],
    on_success: Callable[[httpx.Response], None] | None = None,
) -> Sample:
    """``concurrency`` tasks send ``call`` back to back until ``seconds`` have passed."""
    sample = Sample(name)
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await call(client)
            except httpx.HTTPError as error:
                key = type(error).__name__
                sample.errors[key] = sample.errors.get(key, 0) + 1
                continue
            elapsed = time.perf_counter() - started
            if response.status_code not in expected:
                key = str(response.status_code)
                sample.errors[key] = sample.errors.get(key, 0) + 1
                continue
            sample.latencies.append(elapsed)
            if on_success is not None:
                on_success(response)

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - began
    return sample


def table(samples: list[Sample], concurrency: int) -> str:
    header = ("endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms")
    rows = [header]
    for s in samples:
        rows.append(
            (
                s.name,
                str(len(s.latencies)),
                ", ".join(f"{k}x{v}" for k, v in sorted(s.errors.items())) or "0",
                f"{s.rate:.0f}",
                f"{s.percentile(50):.1f}",
                f"{s.percentile(99):.1f}",
                f"{s.percentile(100):.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"(concurrency {concurrency}, one httpx.AsyncClient, keep-alive)")
    return "\n".join(lines)


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    sys.exit(f"api_load: {url} is not a loopback address; this tool only loads a local API")


async def main(args: argparse.Namespace) -> int:
    check_loopback(args.url)
    jobs_path = f"/v1/tenants/{quote(args.tenant, safe='')}/jobs"
    headers = {"Authorization": f"Bearer {args.token}"}
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    body = {"type": "demo.ping", "payload": {"message": "load"}}
    job_ids: list[str] = []

    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, limits=limits, timeout=args.timeout
    ) as client:
        probe = await client.post(jobs_path, json=body)
        if probe.status_code != 202:
            print(
                f"api_load: POST {jobs_path} -> {probe.status_code} {probe.text}", file=sys.stderr
            )
            return 1
        job_ids.append(probe.json()["jobId"])

        async def enqueue(c: httpx.AsyncClient) -> httpx.Response:
            return await c.post(jobs_path, json=body)

        post = await run_phase(
            client,
            f"POST {jobs_path}",
            enqueue,
            seconds=args.seconds,
            concurrency=args.concurrency,
            expected={202},
            on_success=lambda r: job_ids.append(r.json()["jobId"]),
        )

        ids = itertools.cycle(job_ids)

        async def read(c: httpx.AsyncClient) -> httpx.Response:
            return await c.get(f"{jobs_path}/{next(ids)}")

        get = await run_phase(
            client,
            f"GET {jobs_path}/{{id}}",
            read,
            seconds=args.seconds,
            concurrency=args.concurrency,
            expected={200},
        )

    print(table([post, get], args.concurrency))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--token", required=True, help="a token with jobs:read and jobs:write")
    parser.add_argument("--tenant", default="acme", help="the token's tenant")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent requests")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be positive and --concurrency at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
