"""Shared fixtures. Service fixtures (emulator, moto, Azurite) live in tests/fixtures/ as plugins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.runtime import reset_runtime

pytest_plugins = ["tests.fixtures.emulator", "tests.fixtures.services"]

_BUNDLE_VARIABLES = ("PLATFORM", "LEANIX_HOST", "LEANIX_API_TOKEN", "LOCAL_DATA_DIR", "LOG_LEVEL")


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from the embedded default with its own local data folder."""
    for name in _BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "local-data"))
    reset_runtime()
    yield
    reset_runtime()
