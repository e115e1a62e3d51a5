"""Where finished videos go: any fsspec URL (file:// by default, s3://, ...)."""

from __future__ import annotations

import re
import uuid

import fsspec

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def safe_object_name(candidate: str | None, suffix: str) -> str:
    """A storage name that cannot escape the output root, built from a client-visible id."""
    if candidate and _SAFE_NAME.match(candidate) and ".." not in candidate:
        return f"{candidate}{suffix}"
    return f"{uuid.uuid4().hex}{suffix}"


class OutputStore:
    """Writes outputs under one fsspec root and tells where they are."""

    def __init__(self, fs_url: str):
        self.fs, root = fsspec.core.url_to_fs(fs_url)
        self.root = root.rstrip("/")
        self.is_local = "file" in self.fs.protocol or "local" in self.fs.protocol
        self.fs.makedirs(self.root, exist_ok=True)

    def put(self, name: str, data: bytes) -> str:
        """Store data under name (blocking) and return its URL."""
        path = f"{self.root}/{name}"
        if self.is_local:
            # Write then rename, so a crash never leaves a truncated file under the final name.
            partial = f"{path}.partial"
            self.fs.pipe_file(partial, data)
            self.fs.mv(partial, path)
        else:
            # Object stores publish an object only once its upload completes.
            self.fs.pipe_file(path, data)
        return self.fs.unstrip_protocol(path)

    def read(self, url: str) -> bytes:
        """The bytes of an output this store wrote, by the URL put returned (blocking). Nothing
        outside its root: FileNotFoundError for any other URL, as for a file gone."""
        prefix = self.fs.unstrip_protocol(self.root) + "/"
        name = url[len(prefix) :] if url.startswith(prefix) else ""
        if not _SAFE_NAME.match(name) or ".." in name:
            raise FileNotFoundError(url)
        return self.fs.cat_file(f"{self.root}/{name}")
