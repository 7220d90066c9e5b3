"""`local.services` always stops what it started: on failure, on SIGTERM, and during start-up."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local import services

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_signal_while_waiting_for_start_up_stops_the_started_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = real_popen(*args, **kwargs)
        started.append(process)
        return process

    def sigterm_arrives(_port: int) -> bool:
        raise SystemExit(128 + signal.SIGTERM)  # what `run`'s signal handler raises

    monkeypatch.setattr(services.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(services, "_answers", sigterm_arrives)
    command = [sys.executable, "-c", "import time; time.sleep(120)"]
    with pytest.raises(SystemExit):
        services._start("test-dummy", command, {"dummy": services.free_port()}, {})
    assert len(started) == 1
    assert started[0].poll() is not None  # stopped (and reaped), not left running
    assert not (services.PID_DIR / "test-dummy.pid").exists()


def test_sigterm_to_the_runner_stops_the_command_and_the_emulator() -> None:
    child_code = "import os, time; print(os.environ['MOTO_ENDPOINT_URL'], flush=True); time.sleep(120)"
    command = ["local.services", "run", "--only", "moto", "--", sys.executable, "-c", child_code]
    runner = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert runner.stdout is not None
        # The command runs once moto answers; it prints where (pid files are shared with other runs).
        moto_port = int(runner.stdout.readline().decode().strip().rsplit(":", 1)[1])
        assert services._answers(moto_port)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 128 + signal.SIGTERM
        assert not services._answers(moto_port)
    finally:
        if runner.poll() is None:
            runner.terminate()  # lets it stop moto; kill only if it does not
            try:
                runner.wait(timeout=30)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
