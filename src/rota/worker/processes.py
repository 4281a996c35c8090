"""``--processes N``: a supervisor that runs N worker processes and restarts crashed ones.

Children are started as ``python -m rota worker ...`` with a parent-death signal, so they
shut down if the supervisor is killed. SIGTERM/SIGINT are forwarded; the supervisor exits
once every child has exited.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger("rota.processes")

_PR_SET_PDEATHSIG = 1
_RESTART_DELAY_SECONDS = 1.0


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, child_args: Sequence[str], processes: int) -> None:
        self._command = [sys.executable, "-m", "rota", *child_args]
        self._count = processes
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        self._children = [self._spawn() for _ in range(self._count)]
        log.info("supervisor started", extra={"processes": self._count})
        worst = 0
        while self._children:
            time.sleep(0.2)
            for index, child in enumerate(list(self._children)):
                code = child.poll()
                if code is None:
                    continue
                if self._stopping:
                    self._children.remove(child)
                    worst = max(worst, 0 if code in (0, -signal.SIGTERM) else 1)
                    continue
                log.warning(
                    "worker process exited; restarting", extra={"pid": child.pid, "exit_code": code}
                )
                time.sleep(_RESTART_DELAY_SECONDS)
                self._children[index] = self._spawn()
        return worst

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._command, preexec_fn=_die_with_parent)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)
