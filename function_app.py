"""The single Azure Functions app: it creates the `FunctionApp` and registers one blueprint per function.

Nothing else happens here, so what Azure indexes is exactly what the local host serves.
"""

import azure.functions as func

from functions.health.azure import bp as health_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
