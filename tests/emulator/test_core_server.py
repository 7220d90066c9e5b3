"""The emulator's CLI entry point and its threaded server."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from local.emulator import EmulatorConfig, start_in_thread
from tests.fixtures.emulator import TOKEN_PATH, basic_auth_header


def test_cli_prints_one_ready_line_and_serves_until_terminated() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; from local.emulator.server import main; sys.exit(main(sys.argv[1:]))",
        "--port",
        "0",
        "--seed",
        "empty",
        "--api-token",
        "LXT_fixed_for_the_cli_test",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["ready"] is True
        assert ready["api_token"] == "LXT_fixed_for_the_cli_test"
        response = httpx.post(
            ready["base_url"] + TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers=basic_auth_header(ready["api_token"]),
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_start_in_thread_uses_a_free_port_and_stops() -> None:
    running = start_in_thread(EmulatorConfig(seed="empty"))
    try:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(running.base_url + "/_emulator/stats").status_code == 200
        assert running.api_token not in repr(running)
    finally:
        running.stop()
