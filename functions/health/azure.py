"""Azure blueprint for the health route (`GET /api/health`, anonymous)."""

from __future__ import annotations

import json

import azure.functions as func

from functions.health.core import health_report
from shared.settings import get_settings

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    body = health_report(get_settings())
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
