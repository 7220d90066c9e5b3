"""Run the emulator: `main(argv)` for the CLI, `start_in_thread` for tests, benches and the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn

from local.emulator.app import EmulatorApp, create_app
from local.emulator.config import EmulatorConfig
from local.emulator.seed import SEEDS
from local.emulator.state import Emulator

_START_TIMEOUT_SECONDS = 10.0


class EmulatorHandle:
    """What tests and the demo use of an emulator, served over HTTP or reached in-process."""

    def __init__(self, app: EmulatorApp, base_url: str) -> None:
        self.app = app
        self.state: Emulator = app.emulator
        self.base_url = base_url
        self.state.base_url = base_url

    @property
    def api_token(self) -> str:
        """The seeded admin's current API token (changes only if its token is replaced)."""
        return self.state.api_token

    @property
    def workspace_id(self) -> str:
        return self.state.workspace.id

    def reset(self, seed: str | None = None) -> None:
        """Back to a fresh seed (default: the configured one), no faults, default stats."""
        self.state.reset(seed)

    def add_fault(self, **spec: Any) -> str:
        return self.state.add_fault(**spec)

    def clear_faults(self) -> None:
        self.state.clear_faults()


class RunningEmulator(EmulatorHandle):
    """An emulator served by uvicorn on a daemon thread (real HTTP on 127.0.0.1)."""

    def __init__(
        self, app: EmulatorApp, server: uvicorn.Server, thread: threading.Thread, base_url: str
    ) -> None:
        super().__init__(app, base_url)
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=_START_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"RunningEmulator(base_url={self.base_url!r}, workspace_id={self.workspace_id!r})"


def _uvicorn_server(app: EmulatorApp, host: str, port: int) -> uvicorn.Server:
    # lifespan off: nothing in the emulator depends on it (the ASGITransport variant has none).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
    return uvicorn.Server(config)


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("uvicorn started without a listening socket")


def start_in_thread(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Serve a new emulator on a daemon thread; returns once it listens (port 0 = a free port)."""
    app = create_app(config or EmulatorConfig())
    server = _uvicorn_server(app, host, port)
    thread = threading.Thread(target=server.run, name="leanix-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the emulator did not start on {host}:{port}")
        time.sleep(0.005)
    base_url = f"http://{host}:{_bound_port(server)}"
    return RunningEmulator(app, server, thread, base_url)


def parse_args(argv: Sequence[str] | None) -> tuple[str, int, EmulatorConfig]:
    """(host, port, config) from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m functions emulator", description="Local SAP LeanIX emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", choices=SEEDS, default="demo")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="access token lifetime in seconds")
    parser.add_argument("--rate-limit", type=int, default=1800, help="requests per minute per user")
    parser.add_argument("--webhook-retry-seconds", type=float, default=50.0)
    parser.add_argument("--api-token", default=None, help="fix the seeded admin's API token")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        seed=args.seed,
        token_lifetime_seconds=args.token_lifetime,
        rate_limit_per_minute=args.rate_limit,
        webhook_retry_interval_seconds=args.webhook_retry_seconds,
        api_token=args.api_token,
    )
    return args.host, args.port, config


class _CliServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after shutting down; the CLI wants a clean exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._request_exit)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _request_exit(self) -> None:
        self.should_exit = True


async def _serve(server: uvicorn.Server, app: EmulatorApp, host: str) -> int:
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return 1
        await asyncio.sleep(0.01)
    base_url = f"http://{host}:{_bound_port(server)}"
    app.emulator.base_url = base_url
    ready = {
        "ready": True,
        "base_url": base_url,
        "api_token": app.emulator.api_token,
        "workspace_id": app.emulator.workspace.id,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await task  # uvicorn handles SIGINT/SIGTERM and returns
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: start the emulator, print one JSON "ready" line on stdout, serve until SIGINT/SIGTERM."""
    host, port, config = parse_args(argv)
    app = create_app(config)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
    return asyncio.run(_serve(_CliServer(config), app, host))


if __name__ == "__main__":
    raise SystemExit(main())
