"""`build_platform(settings)`: the four ports of the platform `PLATFORM` selects.

Each adapter module is imported only when its platform is chosen, and the cloud adapters create
their SDK clients on first use, so a cold start pays only for what it uses and building a platform
makes no network call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from shared.errors import ConfigurationError
from shared.platform.ports import Platform
from shared.settings import PlatformName, Settings

LOCAL_STATE_FILE = "state.sqlite3"
LOCAL_QUEUE_FILE = "queue.sqlite3"
LOCAL_SECRETS_FILE = "secrets.json"
LOCAL_BLOB_DIR = "blobs"


def build_platform(settings: Settings, clock: Callable[[], float] = time.time) -> Platform:
    """The ports for `settings.platform` (local, aws or azure). `clock` is epoch seconds (tests inject it).

    Raises ConfigurationError when a setting the platform needs is missing.
    """
    if settings.platform is PlatformName.LOCAL:
        return build_local_platform(settings, clock)
    if settings.platform is PlatformName.AWS:
        from shared.platform.aws_platform import build_aws_platform

        return build_aws_platform(settings, clock)
    if settings.platform is PlatformName.AZURE:
        from shared.platform.azure_platform import build_azure_platform

        return build_azure_platform(settings, clock)
    raise ConfigurationError(f"PLATFORM must be local, aws or azure, got {settings.platform!r}")


def build_local_platform(settings: Settings, clock: Callable[[], float] = time.time) -> Platform:
    """SQLite state and queue, a blob folder and a secrets file under LOCAL_DATA_DIR."""
    from shared.platform.local_blobs import LocalBlobStore
    from shared.platform.local_queue import LocalQueue
    from shared.platform.local_secrets import LocalSecretStore
    from shared.platform.local_state import LocalStateStore

    root = Path(settings.local_data_dir)
    seed = {}
    if settings.leanix_api_token is not None:
        seed[settings.leanix_token_secret_name] = settings.leanix_api_token.get_secret_value()
    return Platform(
        name=PlatformName.LOCAL.value,
        secrets=LocalSecretStore(root / LOCAL_SECRETS_FILE, seed=seed, clock=clock),
        state=LocalStateStore(root / LOCAL_STATE_FILE, clock=clock),
        blobs=LocalBlobStore(root / LOCAL_BLOB_DIR),
        queue=LocalQueue(root / LOCAL_QUEUE_FILE, settings.queue_max_attempts, clock=clock),
    )
