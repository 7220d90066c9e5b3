"""SecretStore on AWS Secrets Manager with its real staging labels.

Neutral stages map to AWSCURRENT / AWSPENDING / AWSPREVIOUS. Every read passes `VersionStage` or
`VersionId` explicitly (moto, unlike AWS, keeps returning the old value without it). A version id is
the `ClientRequestToken`, which is what the AWS rotation protocol keys each step on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.platform.aws_clients import LazyClient, error_code, platform_error
from shared.platform.errors import Conflict, NotFound
from shared.platform.names import check_version_id
from shared.platform.ports import CURRENT, SecretVersion, Stage, StagedSecret
from shared.platform.secret_cache import SecretCache, cached_current

AWS_LABELS: dict[str, str] = {"current": "AWSCURRENT", "pending": "AWSPENDING", "previous": "AWSPREVIOUS"}
NEUTRAL_STAGES: dict[str, str] = {label: stage for stage, label in AWS_LABELS.items()}
_HINT = "check the secret name, SECRET_NAME_PREFIX, AWS_REGION and the role's secretsmanager permissions"


class AwsSecretStore:
    """Secrets named `SECRET_NAME_PREFIX + name` in Secrets Manager."""

    def __init__(self, client: LazyClient, prefix: str = "", cache: SecretCache | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._cache = cache or SecretCache()

    def __repr__(self) -> str:
        return f"AwsSecretStore(prefix={self._prefix!r})"

    def _id(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def get_current(self, name: str) -> str:
        return await cached_current(
            self._cache,
            name,
            lambda: self.get_stage(name, CURRENT),
            f"secret {self._id(name)!r} has no AWSCURRENT version: {_HINT}",
        )

    def invalidate(self, name: str) -> None:
        self._cache.invalidate(name)

    async def get_version(self, name: str, version_id: str) -> str:
        value = await asyncio.to_thread(self._get_value, name, version_id=version_id)
        if value is None:
            raise NotFound(f"secret {self._id(name)!r} has no version {version_id!r}: {_HINT}")
        return value[1]

    async def get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        found = await asyncio.to_thread(self._get_value, name, stage=stage)
        return None if found is None else StagedSecret(*found)

    def _get_value(
        self, name: str, *, version_id: str | None = None, stage: str | None = None
    ) -> tuple[str, str] | None:
        kwargs: dict[str, Any] = {"SecretId": self._id(name)}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        else:
            kwargs["VersionStage"] = AWS_LABELS[stage or CURRENT]
        try:
            response = self._client.get().get_secret_value(**kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                return None
            if code:
                raise platform_error(f"reading secret {self._id(name)!r}", exc, _HINT) from exc
            raise
        return str(response["VersionId"]), str(response["SecretString"])

    async def put_version(self, name: str, version_id: str, value: str, stage: Stage = "pending") -> None:
        check_version_id(version_id)
        await asyncio.to_thread(self._put_version, name, version_id, value, stage)
        self._cache.invalidate(name)

    def _put_version(self, name: str, version_id: str, value: str, stage: Stage) -> None:
        existing = self._get_value(name, version_id=version_id)
        if existing is not None:
            if existing[1] != value:
                raise Conflict(
                    f"secret {self._id(name)!r} already has version {version_id!r} with a different "
                    "value: use a new version id (rotation id) for a new value"
                )
            return
        client = self._client.get()
        try:
            if not self._exists(name):
                # A new secret's first version is always AWSCURRENT on Secrets Manager.
                client.create_secret(Name=self._id(name), ClientRequestToken=version_id, SecretString=value)
                if stage != CURRENT:
                    client.update_secret_version_stage(
                        SecretId=self._id(name), VersionStage=AWS_LABELS[stage], MoveToVersionId=version_id
                    )
                return
            client.put_secret_value(
                SecretId=self._id(name),
                ClientRequestToken=version_id,
                SecretString=value,
                VersionStages=[AWS_LABELS[stage]],
            )
        except Exception as exc:
            code = error_code(exc)
            if code in {"ResourceExistsException", "InvalidRequestException"}:
                raise Conflict(
                    f"secret {self._id(name)!r} version {version_id!r} could not be stored ({code}): "
                    "another writer used this version id with a different value"
                ) from exc
            if code:
                raise platform_error(f"storing secret {self._id(name)!r}", exc, _HINT) from exc
            raise

    def _exists(self, name: str) -> bool:
        try:
            self._client.get().describe_secret(SecretId=self._id(name))
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    async def promote(self, name: str, version_id: str) -> None:
        await asyncio.to_thread(self._promote, name, version_id)
        self._cache.invalidate(name)

    def _promote(self, name: str, version_id: str) -> None:
        versions = {version.version_id: version.stages for version in self._list_versions(name)}
        if version_id not in versions:
            raise NotFound(f"secret {self._id(name)!r} has no version {version_id!r} to promote")
        client = self._client.get()
        try:
            if "current" not in versions[version_id]:
                old = next((vid for vid, stages in versions.items() if "current" in stages), None)
                kwargs: dict[str, Any] = {"MoveToVersionId": version_id}
                if old is not None:
                    kwargs["RemoveFromVersionId"] = old
                # Secrets Manager moves AWSPREVIOUS to the old current version by itself.
                client.update_secret_version_stage(
                    SecretId=self._id(name), VersionStage=AWS_LABELS["current"], **kwargs
                )
            if "pending" in versions[version_id]:
                client.update_secret_version_stage(
                    SecretId=self._id(name),
                    VersionStage=AWS_LABELS["pending"],
                    RemoveFromVersionId=version_id,
                )
        except Exception as exc:
            if error_code(exc):
                raise platform_error(f"promoting secret {self._id(name)!r}", exc, _HINT) from exc
            raise

    async def list_versions(self, name: str) -> list[SecretVersion]:
        return await asyncio.to_thread(self._list_versions, name)

    def _list_versions(self, name: str) -> list[SecretVersion]:
        result: list[SecretVersion] = []
        kwargs: dict[str, Any] = {"SecretId": self._id(name), "IncludeDeprecated": False}
        try:
            while True:
                page = self._client.get().list_secret_version_ids(**kwargs)
                for version in page.get("Versions", []):
                    stages = {NEUTRAL_STAGES.get(label, "") for label in version.get("VersionStages", [])}
                    result.append(SecretVersion(str(version["VersionId"]), frozenset(stages - {""})))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise NotFound(f"secret {self._id(name)!r} not found: {_HINT}") from exc
            if code:
                raise platform_error(f"listing secret {self._id(name)!r}", exc, _HINT) from exc
            raise
        return result
