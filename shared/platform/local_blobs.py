"""BlobStore on a local folder: one file per key, written atomically."""

from __future__ import annotations

import asyncio
import builtins
import os
import tempfile
from pathlib import Path

from shared.platform.errors import NotFound
from shared.platform.names import check_blob_key


class LocalBlobStore:
    """Blobs as files under `root`. The content type is not kept (the folder has no metadata)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore(root={str(self._root)!r})"

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_blob_key(key).split("/"))

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"blob {key!r} not found in the local folder {str(self._root)!r}") from None

    async def list(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        keys = []
        for path in self._root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self._root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def read_url(self, key: str, expires_seconds: int) -> str | None:
        path = self._path(key)
        if not await asyncio.to_thread(path.is_file):
            raise NotFound(f"blob {key!r} not found in the local folder {str(self._root)!r}")
        return path.as_uri()
