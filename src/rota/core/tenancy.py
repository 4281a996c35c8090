"""Tenant scope: which tenant's jobs a caller may see or change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Scope:
    """Either one tenant, or every tenant (operators). Always turned into WHERE-clause
    parameters, never used to filter rows after they were fetched."""

    tenant_id: str | None
    all_tenants: bool

    @classmethod
    def operator(cls) -> Scope:
        return cls(tenant_id=None, all_tenants=True)

    @classmethod
    def tenant(cls, tenant_id: str) -> Scope:
        if not tenant_id:
            raise ValueError("a tenant scope needs a tenant id")
        return cls(tenant_id=tenant_id, all_tenants=False)

    def params(self) -> dict[str, Any]:
        return {"all_tenants": self.all_tenants, "tenant_id": self.tenant_id}
