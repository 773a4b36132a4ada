"""Personal data at rest: AES-256-GCM with the key outside the database.

Each record is bound (associated data) to its instance and source, so a ciphertext copied to another
row or case does not decrypt. `key_id` names the key that sealed a record, for rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

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


def _aad(instance_id: str, source: str) -> bytes:
    return f"fengqiao/personal/{instance_id}/{source}".encode()
