"""Start-up knobs of the LeanIX emulator (one workspace, one seeded admin technical user)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EmulatorConfig:
    """Everything the emulator can be configured with at start; a few fields change at run time.

    `rate_limit_per_minute` and the webhook timings may be changed later through
    `POST /_emulator/config` (or `Emulator.update_config`).
    """

    seed: str = "demo"
    # Lifetime of an access token issued by the MTM token endpoint (LeanIX documents 3600 s).
    token_lifetime_seconds: int = 3600
    # Per-user limit; LeanIX documents 1800 requests per minute (30 rps) per user.
    rate_limit_per_minute: int = 1800
    # LeanIX retries a failed PUSH delivery every 50 s until it succeeds.
    webhook_retry_interval_seconds: float = 50.0
    webhook_delivery_timeout_seconds: float = 10.0
    # Delay between the states of an Integration API run, so clients really poll.
    run_step_delay_seconds: float = 0.05
    # Fix the seeded admin's API token (random per start when None).
    api_token: str | None = None
    workspace_id: str | None = None
    workspace_name: str = "emulated-workspace"
    account_name: str = "Emulated Account"
    # Fixed random seed so the demo data is the same on every start.
    random_seed: int = 4711
