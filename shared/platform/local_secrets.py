"""SecretStore in a local JSON file, written atomically under an exclusive file lock.

The file is created with mode 0600. Every read-modify-write holds `fcntl.flock` on a lock file
beside it, so several processes on one machine never lose an update; readers see either the old or
the new file because writes go to a temporary file that replaces the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from shared.errors import PlatformError
from shared.platform.errors import Conflict, NotFound
from shared.platform.names import check_version_id
from shared.platform.ports import CURRENT, PENDING, PREVIOUS, SecretVersion, Stage, StagedSecret
from shared.platform.secret_cache import SecretCache, cached_current

SEED_VERSION_ID = "initial-version-from-environment"

_Versions = dict[str, dict[str, Any]]


class LocalSecretStore:
    """Secrets as `{"secrets": {name: {"versions": {id: {"value", "stages", "created"}}}}}`."""

    def __init__(
        self,
        path: Path,
        seed: Mapping[str, str] | None = None,
        cache: SecretCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._cache = cache or SecretCache()
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        # Seed only names that do not exist yet, so a rotated token is never reset to the env value.
        with self._locked() as data:
            for name, value in (seed or {}).items():
                if value and name not in data["secrets"]:
                    seeded = {"value": value, "stages": [CURRENT], "created": clock()}
                    data["secrets"][name] = {"versions": {SEED_VERSION_ID: seeded}}

    def __repr__(self) -> str:
        return f"LocalSecretStore(path={str(self._path)!r})"

    # --- file access -------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            with self._path.open(encoding="utf-8") as handle:
                data: dict[str, Any] = json.load(handle)
        except FileNotFoundError:
            return {"secrets": {}}
        except json.JSONDecodeError:
            raise PlatformError(
                f"the local secrets file {str(self._path)!r} is not valid JSON: fix or delete it"
            ) from None
        data.setdefault("secrets", {})
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Yield the file's content under an exclusive lock and write it back atomically."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                self._write(data)
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".secrets-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _versions(self, data: dict[str, Any], name: str) -> _Versions:
        secret = data["secrets"].get(name)
        if secret is None:
            raise NotFound(
                f"secret {name!r} not found in {str(self._path)!r}: set LEANIX_API_TOKEN or store it first"
            )
        versions: _Versions = secret["versions"]
        return versions

    @staticmethod
    def _with_stage(versions: _Versions, stage: str) -> str | None:
        for version_id, version in versions.items():
            if stage in version["stages"]:
                return version_id
        return None

    @staticmethod
    def _move_stage(versions: _Versions, stage: str, to_version: str) -> None:
        for version_id, version in versions.items():
            stages = set(version["stages"])
            if version_id == to_version:
                stages.add(stage)
            else:
                stages.discard(stage)
            version["stages"] = sorted(stages)

    def _make_current(self, versions: _Versions, version_id: str) -> None:
        old = self._with_stage(versions, CURRENT)
        if old == version_id:
            return
        if old is not None:
            self._move_stage(versions, PREVIOUS, old)
        self._move_stage(versions, CURRENT, version_id)
        versions[version_id]["stages"] = sorted(set(versions[version_id]["stages"]) - {PENDING, PREVIOUS})

    # --- port --------------------------------------------------------------------------------

    async def get_current(self, name: str) -> str:
        return await cached_current(
            self._cache,
            name,
            lambda: self.get_stage(name, CURRENT),
            f"secret {name!r} has no current version in {str(self._path)!r}",
        )

    def invalidate(self, name: str) -> None:
        self._cache.invalidate(name)

    async def get_version(self, name: str, version_id: str) -> str:
        return await asyncio.to_thread(self._get_version, name, version_id)

    def _get_version(self, name: str, version_id: str) -> str:
        version = self._versions(self._read(), name).get(version_id)
        if version is None:
            raise NotFound(f"secret {name!r} has no version {version_id!r}")
        value: str = version["value"]
        return value

    async def get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        return await asyncio.to_thread(self._get_stage, name, stage)

    def _get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        data = self._read()
        if name not in data["secrets"]:
            return None
        versions = self._versions(data, name)
        version_id = self._with_stage(versions, stage)
        if version_id is None:
            return None
        return StagedSecret(version_id, versions[version_id]["value"])

    async def put_version(self, name: str, version_id: str, value: str, stage: Stage = "pending") -> None:
        check_version_id(version_id)
        await asyncio.to_thread(self._put_version, name, version_id, value, stage)
        self._cache.invalidate(name)

    def _put_version(self, name: str, version_id: str, value: str, stage: Stage) -> None:
        with self._locked() as data:
            secret = data["secrets"].setdefault(name, {"versions": {}})
            versions: _Versions = secret["versions"]
            existing = versions.get(version_id)
            if existing is not None:
                if existing["value"] != value:
                    raise Conflict(
                        f"secret {name!r} already has version {version_id!r} with a different value: "
                        "use a new version id (rotation id) for a new value"
                    )
                return
            versions[version_id] = {"value": value, "stages": [], "created": self._clock()}
            if stage == CURRENT:
                self._make_current(versions, version_id)
            else:
                self._move_stage(versions, stage, version_id)

    async def promote(self, name: str, version_id: str) -> None:
        await asyncio.to_thread(self._promote, name, version_id)
        self._cache.invalidate(name)

    def _promote(self, name: str, version_id: str) -> None:
        with self._locked() as data:
            versions = self._versions(data, name)
            if version_id not in versions:
                raise NotFound(f"secret {name!r} has no version {version_id!r} to promote")
            self._make_current(versions, version_id)

    async def list_versions(self, name: str) -> list[SecretVersion]:
        return await asyncio.to_thread(self._list_versions, name)

    def _list_versions(self, name: str) -> list[SecretVersion]:
        versions = self._versions(self._read(), name)
        ordered = sorted(versions.items(), key=lambda item: item[1].get("created", 0.0))
        return [SecretVersion(version_id, frozenset(version["stages"])) for version_id, version in ordered]
