"""``GET /v1/audit``: who submitted, cancelled or scheduled what."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from .. import queries
from ..auth import Caller
from ..deps import caller, offset_query, reads
from ..schemas import AuditList
from ..views import audit_out

router = APIRouter(tags=["service"])


@router.get("/v1/audit", response_model=AuditList)
def audit(limit: int = Query(100, ge=1, le=1000), offset: int = offset_query(),
          who: Caller = Depends(caller), s: Session = Depends(reads)) -> Any:
    """Who submitted, cancelled or scheduled what, newest first (this tenant's)."""
    rows = (queries.list_audit_all_tenants(s, limit=limit, offset=offset) if who.admin
            else queries.list_audit(s, tenant=who.tenant, limit=limit, offset=offset))
    return {"entries": [audit_out(a) for a in rows]}
