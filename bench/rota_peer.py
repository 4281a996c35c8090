"""rota's adapter for the peer benchmark harness (bench-peers): the adapter contract on the
command line, one JSON line on stdout. Uses rota's public API and real worker with default
settings; the workloads themselves live in rota.bench.workloads (also behind `rota bench`).

    python bench/rota_peer.py --workload W1|W2|W3 --dsn DSN [--n N] [--batch B]
        [--concurrency C] [--processes P] [--interval-ms MS] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import traceback
from importlib.metadata import version
from importlib.util import find_spec
from typing import Any

from rota.bench.workloads import BenchConfig, w1, w2, w3
from rota.config import DEFAULT_PREFETCH_PER_SLOT
from rota.core import loops


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=["W1", "W2", "W3"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--n", type=int)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--interval-ms", type=float, default=20)
    parser.add_argument("--timeout", type=float, default=120)
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    config = BenchConfig(dsn=args.dsn, concurrency=args.concurrency)
    if args.workload == "W1":
        return await w1(config, args.n or 20000, args.batch)
    if args.workload == "W2":
        return await w2(config, args.n or 20000, args.processes, timeout=args.timeout)
    return await w3(config, args.n or 300, args.interval_ms)


def main() -> int:
    args = parse()
    stdout = os.dup(1)
    os.dup2(2, 1)  # only the JSON line goes to the real stdout
    line: dict[str, Any] = {
        "system": "rota",
        "workload": args.workload,
        "n": args.n,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "processes": args.processes,
        "config": f"rota defaults, concurrency={args.concurrency} per process, fair claims, "
        f"prefetch up to {DEFAULT_PREFETCH_PER_SLOT * args.concurrency} for short jobs, "
        f"{'uvloop' if find_spec('uvloop') else 'asyncio'}, jobs kept (status, events, runs)",
        "versions": {
            "rota": version("rota"),
            "psycopg": version("psycopg"),
            **({"uvloop": version("uvloop")} if find_spec("uvloop") else {}),
            "python": platform.python_version(),
        },
    }
    code = 0
    try:
        line.update(loops.run(run(args)))
    except Exception as error:
        traceback.print_exc()
        line["error"] = f"{type(error).__name__}: {error}"
        code = 1
    os.write(stdout, (json.dumps(line) + "\n").encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
