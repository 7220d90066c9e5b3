"""The single Azure Functions app: it creates the `FunctionApp` and registers one blueprint per function.

Nothing else happens here, so what Azure indexes is exactly what the local host serves.
"""

import azure.functions as func

from functions.health.azure import bp as health_bp
from functions.ldif_sync.azure import bp as ldif_sync_bp
from functions.metrics_ingester.azure import bp as metrics_ingester_bp
from functions.token_rotation.azure import bp as token_rotation_bp
from functions.webhook_handler.azure import bp as webhook_handler_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(token_rotation_bp)
app.register_functions(webhook_handler_bp)
app.register_functions(metrics_ingester_bp)
app.register_functions(ldif_sync_bp)
