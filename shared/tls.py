"""One verifying TLS context per process.

Building an `httpx.AsyncClient` loads the CA bundle again (~60 ms each time); functions create a
client per invocation, so they share this context instead. Verification is always on.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import certifi


@lru_cache(maxsize=1)
def verifying_tls_context() -> ssl.SSLContext:
    """The process-wide TLS context: certificate and host name verification on, certifi's CA bundle."""
    return ssl.create_default_context(cafile=certifi.where())
