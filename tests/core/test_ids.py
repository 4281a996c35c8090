"""Job ids are UUIDv7 (time first, then randomness); trace ids are W3C-shaped; a forked
child never repeats its parent's random bytes."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from rota.core.ids import new_job_id, new_trace_id, random_bytes16


def test_job_ids_are_version_7_with_the_creation_time_first() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_job_id()
    after = time.time_ns() // 1_000_000
    assert job_id.version == 7
    assert job_id.variant == "specified in RFC 4122"
    assert before <= job_id.int >> 80 <= after


def test_job_ids_are_unique_and_ordered_by_millisecond() -> None:
    ids = [new_job_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    millis = [job_id.int >> 80 for job_id in ids]
    assert millis == sorted(millis)


def test_trace_ids_are_32_lowercase_hex_digits_and_unique() -> None:
    ids = {new_trace_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    for trace_id in list(ids)[:100]:
        assert len(trace_id) == 32
        assert int(trace_id, 16) != 0
        assert trace_id == trace_id.lower()


def test_a_forked_child_does_not_repeat_the_parents_random_bytes() -> None:
    random_bytes16()  # the parent has a filled buffer now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next 16 bytes, then leave without cleanup
        os.write(write, random_bytes16())
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    parent = random_bytes16()
    assert len(child) == 16
    assert child != parent
    assert UUID(bytes=child) != UUID(bytes=parent)


def test_ids_made_at_once_in_many_threads_are_all_different() -> None:
    # The random buffer is shared without a lock; each read must still hand out its own bytes.
    def make(_: int) -> list[UUID]:
        return [new_job_id() for _ in range(5_000)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [job_id for batch in pool.map(make, range(8)) for job_id in batch]
    assert len(set(ids)) == len(ids) == 40_000
    assert len({job_id.int & 0x3FFF_FFFF_FFFF_FFFF for job_id in ids}) == len(ids)
