"""TokenStore: API tokens (create, find, revoke, list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rota.core.auth import Principal, make_token, parse_token, secret_matches
from rota.store.db import Database
from rota.store.jobs import translated
from rota.store.queries import Queries


class TokenStore:
    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.q = Queries(schema)

    async def create_token(
        self, *, tenant_id: str, scopes: list[str], name: str | None, expires_at: datetime | None
    ) -> tuple[str, dict[str, Any]]:
        """Returns the token text (shown once) and its stored record."""
        token = make_token()
        params = {
            "id": token.id,
            "tenant_id": tenant_id,
            "scopes": scopes,
            "secret_hash": token.secret_hash,
            "name": name,
            "expires_at": expires_at,
        }
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.create_token, params)
                row = await cursor.fetchone()
        assert row is not None
        return token.text, row

    async def authenticate(self, text: str) -> Principal | None:
        """The principal of a valid, active token; None for anything else."""
        parsed = parse_token(text)
        if parsed is None:
            return None
        token_id, secret = parsed
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.find_token, {"id": token_id})
                row = await cursor.fetchone()
        if row is None or not secret_matches(secret, row["secret_hash"]) or not row["is_active"]:
            return None
        return Principal(row["id"], row["tenant_id"], frozenset(row["scopes"]))

    async def revoke_token(self, token_id: str) -> bool:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.revoke_token, {"id": token_id})
                return await cursor.fetchone() is not None

    async def list_tokens(self) -> list[dict[str, Any]]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.list_tokens)
                return await cursor.fetchall()
