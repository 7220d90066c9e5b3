"""A small fake of the Key Vault secrets REST API, served over HTTPS on 127.0.0.1.

It covers what `KeyVaultSecretStore` uses: set secret (PUT), get secret by version or latest,
list versions, update properties (tags). It answers an unauthenticated request with the bearer
challenge the SDK expects and accepts only the static token of `StaticTokenCredential`.
The certificate comes from `trustme` and the SDK verifies it against that CA: TLS verification is
never disabled.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from azure.core.credentials import AccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STATIC_TOKEN = "fake-key-vault-bearer"
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"'
)


class StaticTokenCredential:
    """A TokenCredential that returns one static token (no identity service involved)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(STATIC_TOKEN, int(time.time()) + 3600)


@dataclass
class _Version:
    version: str
    value: str
    tags: dict[str, str]
    content_type: str | None
    created: int
    updated: int
    enabled: bool = True


@dataclass
class FakeVault:
    """The vault's state: secret name -> versions in creation order."""

    base_url: str = ""
    secrets: dict[str, list[_Version]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Strictly increasing timestamps keep the order of writes visible (real ones have 1 s resolution).
    ticks: Iterator[int] = field(default_factory=lambda: itertools.count(1_700_000_000))

    def bundle(self, name: str, version: _Version, with_value: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{self.base_url}/secrets/{name}/{version.version}",
            "attributes": {
                "enabled": version.enabled,
                "created": version.created,
                "updated": version.updated,
                "recoveryLevel": "Recoverable+Purgeable",
            },
            "tags": dict(version.tags),
        }
        if version.content_type:
            body["contentType"] = version.content_type
        if with_value:
            body["value"] = version.value
        return body


def _not_found(name: str) -> JSONResponse:
    error = {
        "code": "SecretNotFound",
        "message": f"A secret with (name/id) {name} was not found in this key vault.",
    }
    return JSONResponse({"error": error}, status_code=404)


def create_app(vault: FakeVault) -> Starlette:
    """The Starlette app serving `vault`."""

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {STATIC_TOKEN}"

    def challenge() -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": CHALLENGE})

    async def set_secret(request: Request) -> Response:
        if not authorized(request):
            return challenge()
        name = request.path_params["name"]
        payload = await request.json()
        with vault.lock:
            tick = next(vault.ticks)
            version = _Version(
                uuid.uuid4().hex,
                payload["value"],
                payload.get("tags") or {},
                payload.get("contentType"),
                tick,
                tick,
            )
            vault.secrets.setdefault(name, []).append(version)
            return JSONResponse(vault.bundle(name, version, with_value=True))

    async def get_secret(request: Request) -> Response:
        if not authorized(request):
            return challenge()
        name = request.path_params["name"]
        wanted = request.path_params.get("version", "")
        with vault.lock:
            versions = vault.secrets.get(name, [])
            if not wanted:
                enabled = [version for version in versions if version.enabled]
                found = enabled[-1] if enabled else None
            else:
                found = next((version for version in versions if version.version == wanted), None)
            if found is None:
                return _not_found(name)
            return JSONResponse(vault.bundle(name, found, with_value=True))

    async def list_versions(request: Request) -> Response:
        if not authorized(request):
            return challenge()
        name = request.path_params["name"]
        with vault.lock:
            if name not in vault.secrets:
                return _not_found(name)
            items = [vault.bundle(name, version, with_value=False) for version in vault.secrets[name]]
        return JSONResponse({"value": items, "nextLink": None})

    async def update_secret(request: Request) -> Response:
        if not authorized(request):
            return challenge()
        name = request.path_params["name"]
        wanted = request.path_params["version"]
        payload = await request.json()
        with vault.lock:
            found = next((v for v in vault.secrets.get(name, []) if v.version == wanted), None)
            if found is None:
                return _not_found(name)
            if "tags" in payload:
                found.tags = dict(payload["tags"] or {})
            if "contentType" in payload:
                found.content_type = payload["contentType"]
            if "enabled" in (payload.get("attributes") or {}):
                found.enabled = bool(payload["attributes"]["enabled"])
            found.updated = next(vault.ticks)
            return JSONResponse(vault.bundle(name, found, with_value=False))

    return Starlette(
        routes=[
            Route("/secrets/{name}", set_secret, methods=["PUT"]),
            Route("/secrets/{name}/versions", list_versions, methods=["GET"]),
            Route("/secrets/{name}/", get_secret, methods=["GET"]),
            Route("/secrets/{name}/{version}", get_secret, methods=["GET"]),
            Route("/secrets/{name}/{version}", update_secret, methods=["PATCH"]),
        ]
    )


@dataclass
class RunningVault:
    """A served fake vault: its URL, the CA file to trust, and its state."""

    url: str
    ca_path: Path
    vault: FakeVault
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for the SDK's idle keep-alive connections
        self.thread.join(timeout=10)


def serve(directory: Path) -> RunningVault:
    """Start the fake vault over HTTPS on a free loopback port, in a thread."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path = directory / "fake-vault-ca.pem"
    cert_path = directory / "fake-vault-cert.pem"
    key_path = directory / "fake-vault-key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    with cert_path.open("wb") as handle:
        for blob in cert.cert_chain_pems:
            handle.write(blob.bytes())
    vault = FakeVault()
    config = uvicorn.Config(
        create_app(vault),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(key_path),
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-key-vault", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake Key Vault did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    vault.base_url = f"https://127.0.0.1:{port}"
    return RunningVault(vault.base_url, ca_path, vault, server, thread)
