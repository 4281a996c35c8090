"""A worker process's collector settings (rota/worker/heap.py): start-up's objects frozen, the
young generation collected less often, and cyclic garbage made afterwards still collected.
Each check runs in a process of its own: the settings are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from rota.worker.heap import YOUNG_THRESHOLD

PROBE = textwrap.dedent(
    """
    import gc, json, weakref
    from rota.worker.heap import settle_worker_heap

    class Node:
        pass

    before = gc.get_threshold()
    settle_worker_heap()
    frozen = gc.get_freeze_count()
    node = Node()
    node.self = node  # a cycle: only the collector frees it
    alive = weakref.ref(node)
    del node
    gc.collect()
    print(json.dumps({
        "before": before, "after": gc.get_threshold(), "frozen": frozen,
        "cycle_collected": alive() is None, "enabled": gc.isenabled(),
    }))
    """
)


def probe() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_settling_freezes_start_up_and_keeps_collecting_cycles() -> None:
    found = probe()
    assert found["enabled"] is True
    assert found["cycle_collected"] is True
    assert found["frozen"] > 1000  # what start-up loaded: modules, classes, functions
    assert found["after"] == [YOUNG_THRESHOLD, *found["before"][1:]]
