"""SecretStore on Azure Key Vault.

Key Vault assigns its own version ids, so each version carries two tags: `rotation-version` (the
rotation's version id) and `stages` (comma-separated neutral stages). Promotion rewrites tags.
A version without these tags (set by hand or by the template) is current when it is newer than
the tagged current (or none is tagged), so a fresh vault works without any tags and a token
replaced by hand takes effect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.errors import PlatformError
from shared.platform.errors import Conflict, NotFound
from shared.platform.lazy import Lazy
from shared.platform.names import check_version_id
from shared.platform.ports import CURRENT, PENDING, PREVIOUS, SecretVersion, Stage, StagedSecret
from shared.platform.secret_cache import SecretCache, cached_current

VERSION_TAG = "rotation-version"
STAGES_TAG = "stages"
_HINT = "check KEY_VAULT_URL and the identity's Key Vault role (Secrets User to read, Officer to write)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Version:
    kv_version: str
    rotation_id: str
    stages: frozenset[str]
    tags: dict[str, str]
    order: tuple[datetime, datetime]  # (updated, created): the latest tag write wins a tie


class KeyVaultSecretStore:
    """Secrets in one vault. `client` is a lazy `azure.keyvault.secrets.SecretClient`."""

    def __init__(self, client: Lazy[Any], cache: SecretCache | None = None) -> None:
        self._client = client
        self._cache = cache or SecretCache()

    def __repr__(self) -> str:
        return "KeyVaultSecretStore()"

    # --- helpers -----------------------------------------------------------------------------

    def _versions(self, name: str) -> list[_Version]:
        """Every enabled version, oldest first. Raises NotFound when the secret does not exist."""
        try:
            properties = list(self._client.get().list_properties_of_secret_versions(name))
        except ResourceNotFoundError as exc:
            raise NotFound(f"secret {name!r} not found in Key Vault: {_HINT}") from exc
        except HttpResponseError as exc:
            raise PlatformError(f"listing secret {name!r} failed ({exc.status_code}): {_HINT}") from exc
        versions = []
        for prop in properties:
            if prop.enabled is False:
                continue
            tags = dict(prop.tags or {})
            stages = frozenset(stage for stage in tags.get(STAGES_TAG, "").split(",") if stage)
            order = (prop.updated_on or _EPOCH, prop.created_on or _EPOCH)
            versions.append(_Version(prop.version, tags.get(VERSION_TAG, prop.version), stages, tags, order))
        return sorted(versions, key=lambda version: version.order)

    def _find(self, name: str, version_id: str) -> _Version | None:
        versions = self._versions(name)
        by_rotation = [version for version in versions if version.rotation_id == version_id]
        return by_rotation[-1] if by_rotation else None

    def _with_stage(self, versions: list[_Version], stage: str) -> _Version | None:
        tagged = [version for version in versions if stage in version.stages]
        if stage == CURRENT:
            # A version without our tags, set (portal, az CLI, template) after the tagged current or
            # with none tagged, is what the operator made current, e.g. the token replaced by hand after
            # a failed rotation. A pending version is never current: it is not tested yet.
            since = tagged[-1].order[1] if tagged else None
            by_hand = [
                version
                for version in versions
                if not {STAGES_TAG, VERSION_TAG} & version.tags.keys()
                and (since is None or version.order[1] > since)
            ]
            if by_hand:
                return max(by_hand, key=lambda version: version.order[1])
        return tagged[-1] if tagged else None

    def _value(self, name: str, kv_version: str) -> str:
        try:
            secret = self._client.get().get_secret(name, kv_version)
        except ResourceNotFoundError as exc:
            raise NotFound(f"secret {name!r} version not found in Key Vault: {_HINT}") from exc
        except HttpResponseError as exc:
            raise PlatformError(f"reading secret {name!r} failed ({exc.status_code}): {_HINT}") from exc
        return str(secret.value)

    def _set_stages(self, name: str, version: _Version, stages: set[str]) -> None:
        if stages == set(version.stages):
            return
        tags = dict(version.tags)
        tags[VERSION_TAG] = version.rotation_id
        tags[STAGES_TAG] = ",".join(sorted(stages))
        try:
            self._client.get().update_secret_properties(name, version.kv_version, tags=tags)
        except HttpResponseError as exc:
            raise PlatformError(f"tagging secret {name!r} failed ({exc.status_code}): {_HINT}") from exc

    def _make_current(self, name: str, version_id: str) -> None:
        versions = self._versions(name)
        target = next((v for v in reversed(versions) if v.rotation_id == version_id), None)
        if target is None:
            raise NotFound(f"secret {name!r} has no version {version_id!r} to promote")
        others = [version for version in versions if version is not target]
        old = self._with_stage(versions, CURRENT)
        if old is target:
            # Already current: only finish a promotion that crashed half-way.
            tagged = [version for version in others if CURRENT in version.stages]
            old = tagged[-1] if tagged else None
        # Tag the new current first: a crash after this line still leaves the new value current.
        self._set_stages(name, target, (set(target.stages) | {CURRENT}) - {PENDING, PREVIOUS})
        self._demote(name, others, old)

    def _demote(self, name: str, others: list[_Version], old: _Version | None) -> None:
        """Remove `current` from `others`; when there is an old current, it alone becomes `previous`."""
        for version in others:
            stages = set(version.stages) - {CURRENT}
            if old is not None:
                stages.discard(PREVIOUS)
                if version.kv_version == old.kv_version:
                    stages.add(PREVIOUS)
            self._set_stages(name, version, stages)

    # --- port --------------------------------------------------------------------------------

    async def get_current(self, name: str) -> str:
        return await cached_current(
            self._cache,
            name,
            lambda: self.get_stage(name, CURRENT),
            f"secret {name!r} has no current version in Key Vault: {_HINT}",
        )

    def invalidate(self, name: str) -> None:
        self._cache.invalidate(name)

    async def get_version(self, name: str, version_id: str) -> str:
        return await asyncio.to_thread(self._get_version, name, version_id)

    def _get_version(self, name: str, version_id: str) -> str:
        version = self._find(name, version_id)
        if version is None:
            raise NotFound(f"secret {name!r} has no version {version_id!r}")
        return self._value(name, version.kv_version)

    async def get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        return await asyncio.to_thread(self._get_stage, name, stage)

    def _get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        try:
            versions = self._versions(name)
        except NotFound:
            return None
        version = self._with_stage(versions, stage)
        if version is None:
            return None
        return StagedSecret(version.rotation_id, self._value(name, version.kv_version))

    async def put_version(self, name: str, version_id: str, value: str, stage: Stage = "pending") -> None:
        check_version_id(version_id)
        await asyncio.to_thread(self._put_version, name, version_id, value, stage)
        self._cache.invalidate(name)

    def _put_version(self, name: str, version_id: str, value: str, stage: Stage) -> None:
        try:
            existing = self._find(name, version_id)
        except NotFound:
            existing = None  # a new secret
        if existing is not None:
            if self._value(name, existing.kv_version) != value:
                raise Conflict(
                    f"secret {name!r} already has version {version_id!r} with a different value: "
                    "use a new version id (rotation id) for a new value"
                )
            return
        try:
            before = self._versions(name)
        except NotFound:
            before = []
        old_current = self._with_stage(before, CURRENT)
        tags = {VERSION_TAG: version_id, STAGES_TAG: stage}
        try:
            self._client.get().set_secret(name, value, tags=tags, content_type="text/plain")
        except HttpResponseError as exc:
            raise PlatformError(f"storing secret {name!r} failed ({exc.status_code}): {_HINT}") from exc
        if stage == CURRENT:
            others = [version for version in self._versions(name) if version.rotation_id != version_id]
            self._demote(name, others, old_current)
            return
        # The stage now belongs to the new version only.
        for version in self._versions(name):
            if version.rotation_id != version_id and stage in version.stages:
                self._set_stages(name, version, set(version.stages) - {stage})

    async def promote(self, name: str, version_id: str) -> None:
        await asyncio.to_thread(self._make_current, name, version_id)
        self._cache.invalidate(name)

    async def list_versions(self, name: str) -> list[SecretVersion]:
        return await asyncio.to_thread(self._list_versions, name)

    def _list_versions(self, name: str) -> list[SecretVersion]:
        versions = self._versions(name)
        current = self._with_stage(versions, CURRENT)
        result = []
        for version in versions:
            # Exactly the version get_stage(CURRENT) reads carries `current` (it may be untagged).
            stages = set(version.stages) - {CURRENT}
            if version is current:
                stages.add(CURRENT)
            result.append(SecretVersion(version.rotation_id, frozenset(stages)))
        return result
