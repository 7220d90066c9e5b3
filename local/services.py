"""Storage emulators for tests and the demo: moto server (AWS) and Azurite (Azure Storage).

    .venv/bin/python -m local.services run -- .venv/bin/pytest tests/platform

starts both on free loopback ports, each in its own process group, waits until they answer,
runs the command with `MOTO_ENDPOINT_URL` and `AZURITE_CONNECTION_STRING` in its environment,
and always stops both afterwards (also when the command fails or we are interrupted). It exits
with the command's exit code. It installs nothing: moto comes from the virtualenv, Azurite from
`npm ci` (package-lock.json pins azurite 3.35.0). Pids are written under `.services/`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
PID_DIR = REPO_ROOT / ".services"
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
AZURITE = REPO_ROOT / "node_modules" / ".bin" / "azurite"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0

# Azurite's documented development account (public, the same in every Azurite installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Service:
    """One started emulator: its process (leader of its own group) and what to export."""

    name: str
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return PID_DIR / f"{self.name}.pid"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _start(name: str, command: list[str], ports: dict[str, int], env: dict[str, str]) -> Service:
    PID_DIR.mkdir(exist_ok=True)
    log = (PID_DIR / f"{name}.log").open("wb")
    # A new session makes the emulator the leader of its own process group, so stopping the
    # group also stops any child it spawned.
    process = subprocess.Popen(
        command,
        cwd=PID_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    service = Service(name, process, ports, env)
    try:
        service.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not all(_answers(port) for port in ports.values()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not start on ports {sorted(ports.values())}: see {PID_DIR / (name + '.log')}"
                )
            time.sleep(0.05)
    except BaseException:
        # Not yet handed to the caller (a failed start, or SIGTERM/Ctrl-C while waiting): stop it here.
        stop(service)
        raise
    return service


def start_moto() -> Service:
    """moto server on a free port; exports MOTO_ENDPOINT_URL."""
    if not MOTO_SERVER.exists():
        raise RuntimeError(f"{MOTO_SERVER} not found: install requirements-dev.txt (moto[server]) into .venv")
    port = free_port()
    env = {"MOTO_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    return _start("moto", [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], {"moto": port}, env)


def azurite_connection_string(blob: int, queue: int, table: int) -> str:
    """The explicit connection string for an Azurite on these loopback ports."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue}/{AZURITE_ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table}/{AZURITE_ACCOUNT};"
    )


def start_azurite() -> Service:
    """Azurite (in memory) on three free ports; exports AZURITE_CONNECTION_STRING."""
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} not found: run `npm ci` in {REPO_ROOT}")
    ports = {"blob": free_port(), "queue": free_port(), "table": free_port()}
    command = [
        str(AZURITE),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--inMemoryPersistence",
    ]
    for kind, port in ports.items():
        command += [f"--{kind}Host", "127.0.0.1", f"--{kind}Port", str(port)]
    env = {
        "AZURITE_CONNECTION_STRING": azurite_connection_string(ports["blob"], ports["queue"], ports["table"])
    }
    return _start("azurite", command, ports, env)


def stop(service: Service) -> None:
    """Stop the service's whole process group: TERM, then KILL after a bounded wait."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.process.pid, signal.SIGTERM)
    try:
        service.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()
    # The leader may be gone while a child it spawned lives on: make sure the group is empty.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.process.pid, signal.SIGKILL)
    service.pid_file.unlink(missing_ok=True)


@contextlib.contextmanager
def running(names: Sequence[str] = ("moto", "azurite")) -> Iterator[dict[str, str]]:
    """Start the named services and yield the environment to export; always stop them."""
    starters = {"moto": start_moto, "azurite": start_azurite}
    services: list[Service] = []
    try:
        for name in names:
            services.append(starters[name]())
        env: dict[str, str] = {}
        for service in services:
            env.update(service.env)
        yield env
    finally:
        for service in reversed(services):
            stop(service)


def _raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run(command: Sequence[str], names: Sequence[str] = ("moto", "azurite")) -> int:
    """Run `command` with the services up; return its exit code."""
    # TERM/HUP become SystemExit, so the `finally` in `running` stops the emulators.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_on_signal)
    with running(names) as env:
        child = subprocess.Popen(list(command), env={**os.environ, **env})
        try:
            return child.wait()
        except BaseException:
            child.terminate()
            child.wait()
            raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.services", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="run a command with moto server and Azurite up")
    run_parser.add_argument("--only", choices=["moto", "azurite"], help="start just one of the two")
    run_parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command and its arguments")
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("give the command to run after --")
    names = [args.only] if args.only else ["moto", "azurite"]
    try:
        return run(command, names)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
