"""Personal data at rest: AES-256-GCM with the key outside the database.

Each record is bound (associated data) to its instance and source, so a ciphertext copied to another
row or case does not decrypt. `key_id` names the key that sealed a record, for rotation.

Files (attachments) are sealed in chunks (`seal_bytes`): each chunk of CHUNK bytes is its own AES-GCM
message whose nonce counts the chunks and whose associated data names the file, the chunk's number
and whether it is the last one, so chunks cannot be reordered, dropped or truncated unnoticed and a
reader can decrypt as it streams.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .config import Settings
from .errors import EngineError


class VaultError(EngineError):
    code = "vault_error"
    kind = "invalid"


def load_key(settings: Settings) -> bytes:
    """The data key: FENGQIAO_DATA_KEY (base64), else a key file created on first use (mode 0600)."""
    if settings.data_key:
        key = base64.b64decode(settings.data_key)
    else:
        path = settings.data_key_file or Path(settings.instance_path) / "data.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode())
        key = base64.b64decode(path.read_text().strip())
    if len(key) != 32:
        raise VaultError("the data key must be 32 bytes (base64-encoded)")
    return key


class Vault:
    def __init__(self, key: bytes):
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    def seal(self, instance_id: str, source: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        plaintext = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return nonce, self._aead.encrypt(nonce, plaintext, _aad(instance_id, source))

    def open(self, instance_id: str, source: str, nonce: bytes, ciphertext: bytes) -> dict[str, Any]:
        return json.loads(self._aead.decrypt(nonce, ciphertext, _aad(instance_id, source)))

    def seal_bytes(self, context: str, data: bytes) -> bytes:
        """A file sealed in chunks, bound to `context` (e.g. the case and attachment ids)."""
        prefix = os.urandom(8)
        parts = [FILE_MAGIC, prefix]
        chunks = _chunks(data, CHUNK)
        for index, chunk in enumerate(chunks):
            nonce = prefix + index.to_bytes(4, "big")
            parts.append(self._aead.encrypt(nonce, chunk, _file_aad(context, index, index == len(chunks) - 1)))
        return b"".join(parts)

    def open_bytes(self, context: str, sealed: bytes) -> bytes:
        if not sealed.startswith(FILE_MAGIC) or len(sealed) < 12 + 16:
            raise SealedFileError("the stored file is not a sealed file")
        prefix, body = sealed[4:12], sealed[12:]
        chunks = _chunks(body, CHUNK + 16)
        out = []
        try:
            for index, chunk in enumerate(chunks):
                nonce = prefix + index.to_bytes(4, "big")
                out.append(self._aead.decrypt(nonce, chunk, _file_aad(context, index, index == len(chunks) - 1)))
        except InvalidTag:
            raise SealedFileError(
                "the stored file does not decrypt: damaged, moved or sealed with another key"
            ) from None
        return b"".join(out)


CHUNK = 64 * 1024
FILE_MAGIC = b"FQA1"  # format of a sealed file: magic, 8-byte nonce prefix, then sealed chunks


class SealedFileError(VaultError):
    code = "sealed_file_damaged"


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _file_aad(context: str, index: int, last: bool) -> bytes:
    return f"fengqiao/file/{context}/{index}/{int(last)}".encode()


def _aad(instance_id: str, source: str) -> bytes:
    return f"fengqiao/personal/{instance_id}/{source}".encode()
