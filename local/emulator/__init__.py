"""A local SAP LeanIX workspace for tests and the demo (MTM, GraphQL, webhooks, metrics, Integration API)."""

from local.emulator.app import create_app
from local.emulator.config import EmulatorConfig
from local.emulator.server import RunningEmulator, start_in_thread

__all__ = ["EmulatorConfig", "RunningEmulator", "create_app", "start_in_thread"]
