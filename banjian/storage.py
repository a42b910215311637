"""Where uploaded files live: a small storage interface, a local folder now.

`FileStore` is what the API and the archive need: write a new object in pieces, commit it under
its id (never replacing one), read it back. `LocalFileStore` keeps objects under
`{data_dir}/files/{file_id}`, the layout the archive package reads. An S3-compatible object
store (production) is configured by the `BANJIAN_FILES_*` settings and documented in
docs/operations.md; it is not built in this release, and asking for it fails at start-up.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from banjian.settings import Settings

CHUNK = 256 * 1024


class FileWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def head(self) -> bytes:
        """The first bytes written (at least 4 KiB when the object is that long): for type sniffing."""
        ...

    def commit(self, file_id: str) -> None: ...

    def abort(self) -> None: ...


class FileStore(Protocol):
    def writer(self) -> FileWriter: ...

    def read(self, file_id: str) -> Iterator[bytes]: ...

    def exists(self, file_id: str) -> bool: ...

    def local_path(self, file_id: str) -> Path | None:
        """A path on this machine (for zip inspection), or None for a remote store."""
        ...


class _LocalWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".incoming" / uuid.uuid4().hex
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.tmp, "wb")
        self._head = b""

    def write(self, data: bytes) -> None:
        if len(self._head) < 4096:
            self._head += data[: 4096 - len(self._head)]
        self.f.write(data)

    def head(self) -> bytes:
        self.f.flush()  # the whole object is readable at `tmp` from here on (zip inspection)
        return self._head

    def commit(self, file_id: str) -> None:
        self.f.close()
        final = self.root / file_id
        if final.exists():  # ids are fresh uuids: a clash is a bug, never an overwrite
            self.abort()
            raise FileExistsError(file_id)
        os.replace(self.tmp, final)
        final.chmod(0o440)

    def abort(self) -> None:
        if not self.f.closed:
            self.f.close()
        self.tmp.unlink(missing_ok=True)


class LocalFileStore:
    """Objects as files in one folder; written once, never replaced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def writer(self) -> _LocalWriter:
        return _LocalWriter(self.root)

    def _path(self, file_id: str) -> Path:
        if not file_id.isalnum():
            raise FileNotFoundError(file_id)
        return self.root / file_id

    def exists(self, file_id: str) -> bool:
        return file_id.isalnum() and self._path(file_id).is_file()

    def read(self, file_id: str) -> Iterator[bytes]:
        with open(self._path(file_id), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def local_path(self, file_id: str) -> Path | None:
        return self._path(file_id)


def make_store(settings: Settings) -> FileStore:
    """The store the settings name (`BANJIAN_FILES_BACKEND`: `local`, or `s3` once it is built)."""
    if settings.files_backend == "local":
        return LocalFileStore(settings.data_dir / "files")
    raise RuntimeError(f"files backend {settings.files_backend!r} is not available in this release "
                       "(see docs/operations.md, 'File storage')")
