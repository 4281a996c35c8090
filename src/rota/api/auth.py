"""Bearer tokens and tenant access.

The tenant check always ends up in the SQL: a request may act for the path's tenant only if
its token is that tenant's (or an operator's). Otherwise it is given a tenant that matches
no row, so it runs the same query and gets the same 404 as for a missing job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rota.api.problems import ApiError
from rota.app import App
from rota.core.auth import Principal, Scope
from rota.core.registry import TENANT_MAX_LENGTH
from rota.core.tenancy import Scope as TenantScope

# No tenant can be named this (tenant ids are at most 128 characters), so it matches no row.
NO_TENANT = "-" * (TENANT_MAX_LENGTH + 1)
_bearer = HTTPBearer(auto_error=False, description="rota API token (`rota token create`)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rota", error="invalid_token"'}


def rota_app(request: Request) -> App:
    app: App = request.app.state.rota
    return app


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError("unauthorized", "send Authorization: Bearer <token>", _CHALLENGE)
    found = await rota_app(request).authenticate(credentials.credentials)
    if found is None:
        raise ApiError("unauthorized", "the token is invalid, expired or revoked", _CHALLENGE)
    return found


@dataclass(frozen=True, slots=True)
class Access:
    """What a request may do for the tenant in its path."""

    principal: Principal
    tenant_id: str  # the path's tenant, or NO_TENANT when the token may not act for it

    @property
    def scope(self) -> TenantScope:
        return TenantScope.tenant(self.tenant_id)

    @property
    def is_allowed(self) -> bool:
        return self.tenant_id != NO_TENANT


def tenant_access(required: Scope) -> Callable[..., Awaitable[Access]]:
    """A dependency: the caller's access to ``{tenant}``; 403 only for its own tenant."""

    async def dependency(tenant: str, who: Annotated[Principal, Depends(principal)]) -> Access:
        if not who.may_access_tenant(tenant):
            return Access(who, NO_TENANT)
        if not who.has_scope(required):
            raise ApiError("forbidden", f"this needs the {required.value} scope")
        return Access(who, tenant)

    return dependency


ReadAccess = Annotated[Access, Depends(tenant_access(Scope.JOBS_READ))]
WriteAccess = Annotated[Access, Depends(tenant_access(Scope.JOBS_WRITE))]
ScheduleWriteAccess = Annotated[Access, Depends(tenant_access(Scope.SCHEDULES_WRITE))]
