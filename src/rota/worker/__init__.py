"""Running jobs: claim, execute, heartbeat, rescue, prune, shut down. Internal package."""
