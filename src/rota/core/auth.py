"""Token and scope rules: the token format and what each scope allows. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

OPERATOR_TENANT = "*"
TOKEN_PREFIX = "rota"  # noqa: S105 - a public prefix, not a secret
_TOKEN_PATTERN = re.compile(r"^rota_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})$")


class Scope(StrEnum):
    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    SCHEDULES_WRITE = "schedules:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class TokenSecret:
    """A freshly made token: ``text`` is shown once; only ``secret_hash`` is stored."""

    id: str
    text: str
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an authenticated request acts for."""

    token_id: str
    tenant_id: str
    scopes: frozenset[str]

    @property
    def is_operator(self) -> bool:
        return self.tenant_id == OPERATOR_TENANT

    def may_access_tenant(self, tenant_id: str) -> bool:
        return self.is_operator or self.tenant_id == tenant_id

    def has_scope(self, scope: Scope) -> bool:
        return Scope.ADMIN.value in self.scopes or scope.value in self.scopes


def make_token() -> TokenSecret:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return TokenSecret(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", hash_secret(secret))


def parse_token(text: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    match = _TOKEN_PATTERN.match(text.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> bytes:
    # The secret has 256 bits of entropy, so a plain SHA-256 is not brute-forceable.
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), bytes(stored_hash))


def check_scopes(scopes: list[str]) -> list[str]:
    valid = {scope.value for scope in Scope}
    unknown = [scope for scope in scopes if scope not in valid]
    if unknown or not scopes:
        raise ValueError(
            f"unknown scope {', '.join(unknown)}" if unknown else "at least one scope is needed"
        )
    return sorted(set(scopes))
