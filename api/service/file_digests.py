"""Revision files as their checksums see them: line endings and a BOM normalised, so that a
checkout on another OS is the same file; kept compressed, so that a diff can be shown later."""

from __future__ import annotations

import hashlib
import zlib

_BOM = b"\xef\xbb\xbf"


def normalised(content: bytes) -> bytes:
    """``content`` without a UTF-8 BOM and with CRLF line endings made LF."""
    return content.removeprefix(_BOM).replace(b"\r\n", b"\n")


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def content_digest(content: bytes) -> str:
    """The checksum of a revision file's ``content`` (normalised first)."""
    return sha256(normalised(content))


def read(path: str | None) -> bytes | None:
    """A file's bytes, or None when it is gone."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def compressed(content: bytes) -> bytes:
    """``content`` normalised and zlib-compressed, as the record keeps it."""
    return zlib.compress(normalised(content), 6)


def decompressed(kept: bytes | None) -> bytes | None:
    """What :func:`compressed` kept."""
    return None if kept is None else zlib.decompress(kept)
