"""Files for attachment tests, made here: a phone photo (JPEG, optionally with an EXIF location),
a PDF whose text is personal, and the moto S3 server as a real process on loopback."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SECRET = "刘桂兰 13912345678"  # what must never be found in a store in clear


def jpeg(width: int = 800, height: int = 600, location: bool = False, color=(200, 120, 40)) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (width, height), color)
    exif = Image.Exif()
    exif[0x0132] = "2026:12:06 10:00:00"  # DateTime: kept
    if location:
        exif[0x8825] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def has_location(data: bytes) -> bool:
    from PIL import Image

    return 0x8825 in Image.open(io.BytesIO(data)).getexif()


def pdf_with_secret() -> bytes:
    text = SECRET.encode()
    return b"%PDF-1.4\n% " + text + b"\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's S3 server (`moto_server`), started as its own process on a free loopback port."""

    def __init__(self):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        assert exe, "moto[server] is not installed (requirements-dev.lock)"
        self.process = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:  # wait for the condition (the port answers), not for a fixed time
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def s3_credentials() -> None:
    """moto accepts any credentials; boto3 wants some."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "fengqiao-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fengqiao-test")
