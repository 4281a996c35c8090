"""Job ids and trace ids, made from one buffer of operating-system randomness.

``os.urandom`` per id (as ``uuid4()`` and ``secrets.token_hex`` do) was a third of the cost of
enqueueing a batch. Here one call fills a buffer for 256 ids of 16 bytes; a forked child
starts with an empty buffer, so two processes never hand out the same bytes.

Job ids are UUIDv7 (RFC 9562): a millisecond timestamp first, then 74 random bits. New rows
then land at the right-hand end of the primary-key index instead of on random pages, which
keeps the pages every enqueue, claim and completion writes to few and hot.
"""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

_CHUNK = 16 * 256
_lock = threading.Lock()
_buffer = b""
_offset = 0


def _clear() -> None:
    global _buffer, _offset
    _buffer, _offset = b"", 0


os.register_at_fork(after_in_child=_clear)


def random_bytes16() -> bytes:
    global _buffer, _offset
    with _lock:
        if _offset >= len(_buffer):
            _buffer, _offset = os.urandom(_CHUNK), 0
        chunk = _buffer[_offset : _offset + 16]
        _offset += 16
    return chunk


def new_job_id() -> UUID:
    """A UUIDv7: 48 bits of Unix milliseconds, version 7, variant 10, random bits."""
    random = int.from_bytes(random_bytes16())
    millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (random >> 64 & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # variant
    value |= random & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    return UUID(int=value)


def new_trace_id() -> str:
    """A W3C trace id: 16 random bytes as 32 hex digits, never all zero."""
    while True:
        trace_id = random_bytes16().hex()
        if trace_id != "0" * 32:
            return trace_id
