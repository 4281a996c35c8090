"""Rules with no I/O: no database, network, asyncio or clock reads. Internal package."""
