"""The local platform: several processes at once, no cloud SDK, seeding and the secret cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.platform import build_platform
from shared.platform.local_secrets import SEED_VERSION_ID, LocalSecretStore
from shared.platform.secret_cache import SecretCache
from shared.settings import load_settings
from tests.platform import local_worker
from tests.platform.conftest import FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOUD_SDK_PREFIXES = ("boto3", "botocore", "azure.")


def _run_workers(data_dir: Path, phase: str) -> list[dict[str, object]]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.platform.local_worker", str(data_dir), str(worker), phase],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in (0, 1)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


async def test_two_processes_lose_no_message_and_no_state_update(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-data"
    written = _run_workers(data_dir, "write")
    assert sum(int(result["wins"]) for result in written) == local_worker.KEYS  # one winner per key

    platform = build_platform(load_settings(LOCAL_DATA_DIR=str(data_dir)))
    assert await platform.state.get_high_water_mark("hwm") == local_worker.HWM_TOP - 1
    versions = await platform.secrets.list_versions("token")
    assert len(versions) == 2 * local_worker.SECRET_VERSIONS  # no lost read-modify-write
    assert sum("pending" in version.stages for version in versions) == 1

    consumed = _run_workers(data_dir, "consume")
    bodies = [body for result in consumed for body in result["bodies"]]  # type: ignore[attr-defined]
    expected = {f"w{worker}-m{n}" for worker in (0, 1) for n in range(local_worker.MESSAGES)}
    assert len(bodies) == len(expected)  # nothing delivered twice
    assert set(bodies) == expected  # nothing lost
    assert await platform.queue.receive("events", 10, 0) == []


def test_the_local_platform_imports_no_cloud_sdk(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
from shared.platform import build_platform
from shared.settings import load_settings

async def use():
    p = build_platform(load_settings(LOCAL_DATA_DIR={str(tmp_path)!r}, LEANIX_API_TOKEN="t0ken-value"))
    await p.state.put_if_absent("k", "v", 10)
    await p.queue.send("events", ["x"])
    await p.blobs.put("a/b.txt", b"x")
    await p.secrets.get_current("leanix-api-token")

asyncio.run(use())
print(sorted(m for m in sys.modules if m.startswith({CLOUD_SDK_PREFIXES!r}) or m == "azure"))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_building_the_aws_platform_loads_no_sdk_until_first_use() -> None:
    script = """
import sys
from shared.platform import build_platform
from shared.settings import load_settings
build_platform(load_settings(PLATFORM="aws"))
print("boto3" in sys.modules, "botocore" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False False"


def test_building_the_azure_platform_loads_no_service_sdk_until_first_use() -> None:
    # Each storage / Key Vault SDK costs a few hundred ms to import; a function that never writes a
    # blob should not pay for azure.storage.blob on its cold start.
    script = """
import sys
from shared.platform import build_platform
from shared.settings import load_settings
build_platform(load_settings(
    PLATFORM="azure",
    KEY_VAULT_URL="https://example.vault.azure.net",
    STORAGE_CONNECTION_STRING="UseDevelopmentStorage=true",
))
sdks = ("azure.storage.blob", "azure.storage.queue", "azure.data.tables", "azure.keyvault", "azure.identity")
print(sorted(m for m in sys.modules if m.startswith(sdks)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


async def test_the_token_is_seeded_from_the_environment_only_once(tmp_path: Path) -> None:
    settings = load_settings(LOCAL_DATA_DIR=str(tmp_path), LEANIX_API_TOKEN="env-token-one")
    platform = build_platform(settings)
    assert await platform.secrets.get_current("leanix-api-token") == "env-token-one"
    assert await platform.secrets.get_stage("leanix-api-token", "current") == (
        SEED_VERSION_ID,
        "env-token-one",
    )

    rotated = "11111111-0000-4000-8000-000000000001"
    await platform.secrets.put_version("leanix-api-token", rotated, "rotated-token")
    await platform.secrets.promote("leanix-api-token", rotated)
    # A restart with the old token still in the environment must not undo the rotation.
    again = build_platform(load_settings(LOCAL_DATA_DIR=str(tmp_path), LEANIX_API_TOKEN="env-token-one"))
    assert await again.secrets.get_current("leanix-api-token") == "rotated-token"


def test_the_secrets_file_is_private(tmp_path: Path) -> None:
    build_platform(load_settings(LOCAL_DATA_DIR=str(tmp_path), LEANIX_API_TOKEN="env-token-one"))
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


async def test_get_current_is_cached_until_it_expires_or_is_invalidated(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "secrets.json"
    reader = LocalSecretStore(path, seed={"tok": "old"}, cache=SecretCache(60, clock=clock))
    writer = LocalSecretStore(path)  # another process, as far as the reader's cache knows
    assert await reader.get_current("tok") == "old"
    new = "22222222-0000-4000-8000-000000000002"
    await writer.put_version("tok", new, "new", stage="current")
    assert await reader.get_current("tok") == "old"  # served from the cache
    reader.invalidate("tok")
    assert await reader.get_current("tok") == "new"
    newer = "33333333-0000-4000-8000-000000000003"
    await writer.put_version("tok", newer, "newer", stage="current")
    clock.advance(61)
    assert await reader.get_current("tok") == "newer"  # the cache entry expired


def test_the_azure_platform_needs_a_key_vault_and_storage() -> None:
    with pytest.raises(ConfigurationError, match="KEY_VAULT_URL"):
        build_platform(
            load_settings(PLATFORM="azure", STORAGE_CONNECTION_STRING="UseDevelopmentStorage=true")
        )
    with pytest.raises(ConfigurationError, match="STORAGE_CONNECTION_STRING"):
        build_platform(load_settings(PLATFORM="azure", KEY_VAULT_URL="https://v.vault.azure.net"))


def test_the_azure_platform_derives_queue_and_table_urls_from_the_blob_url() -> None:
    platform = build_platform(
        load_settings(
            PLATFORM="azure",
            KEY_VAULT_URL="https://v.vault.azure.net",
            STORAGE_ACCOUNT_URL="https://acct.blob.core.windows.net",
        )
    )
    assert platform.name == "azure"
    with pytest.raises(ConfigurationError, match="QUEUE_ACCOUNT_URL"):
        build_platform(
            load_settings(
                PLATFORM="azure",
                KEY_VAULT_URL="https://v.vault.azure.net",
                STORAGE_ACCOUNT_URL="https://x.test",
            )
        )


def test_a_failed_transaction_reports_its_own_error_when_sqlite_already_rolled_back(tmp_path: Path) -> None:
    from shared.platform.local_sqlite import immediate

    path = tmp_path / "state.sqlite"

    def fail_after_sqlite_rolled_back() -> None:
        with immediate(path) as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
            conn.execute("ROLLBACK")  # as SQLite does by itself on disk-full or I/O errors
            raise ValueError("the caller's error")

    with pytest.raises(ValueError, match="the caller's error"):
        fail_after_sqlite_rolled_back()
    with immediate(path) as conn:  # the database is usable afterwards, and nothing was kept
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []
