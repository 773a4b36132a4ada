"""What an uploaded file is, judged by its bytes (never by its name or the client's content type),
and what is done to images: location (EXIF GPS) removed unless kept, a small JPEG thumbnail made."""

from __future__ import annotations

import io

from ..errors import EngineError

# (content type, test on the first bytes): photos, voice recordings and documents an officer attaches
_SIGNATURES = (
    ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/gif", lambda b: b[:6] in (b"GIF87a", b"GIF89a")),
    ("image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ("image/heic", lambda b: b[4:8] == b"ftyp" and b[8:12] in (b"heic", b"heix", b"mif1", b"heif")),
    ("application/pdf", lambda b: b.startswith(b"%PDF-")),
    ("audio/wav", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE"),
    ("audio/mpeg", lambda b: b.startswith(b"ID3") or b[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
    ("audio/amr", lambda b: b.startswith(b"#!AMR")),
    ("audio/ogg", lambda b: b.startswith(b"OggS")),
    ("audio/webm", lambda b: b.startswith(b"\x1a\x45\xdf\xa3")),
    ("audio/mp4", lambda b: b[4:8] == b"ftyp" and b[8:11] in (b"M4A", b"mp4", b"iso", b"3gp")),
)
# images Pillow re-encodes (to drop the location) and thumbnails
EDITABLE_IMAGES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
THUMBNAIL_PIXELS = 320
GPS_IFD = 0x8825


class UnsupportedContent(EngineError):
    code = "unsupported_content"
    kind = "invalid"


def sniff(data: bytes) -> str:
    """The content type of `data` by its signature; refused when it is none of the accepted kinds."""
    head = data[:64]
    for content_type, matches in _SIGNATURES:
        if matches(head):
            return content_type
    raise UnsupportedContent(
        "the file is not an accepted photo, recording or PDF document",
        [{"field": "file", "message": "accepted: JPEG, PNG, GIF, WebP, HEIC, PDF, WAV, MP3, AMR, OGG, WebM, M4A"}],
    )


def _open_image(data: bytes):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # Pillow raises many kinds for damaged files; all mean "not an image we can read"
        raise UnsupportedContent(
            "the image could not be read", [{"field": "file", "message": "damaged image"}]
        ) from None
    return image


def strip_location(data: bytes, content_type: str) -> bytes:
    """The image without its EXIF location (other EXIF, e.g. the time taken, is kept)."""
    if content_type not in EDITABLE_IMAGES:
        return data
    image = _open_image(data)
    exif = image.getexif()
    if GPS_IFD not in exif:
        return data
    del exif[GPS_IFD]
    out = io.BytesIO()
    options = {"quality": 92} if content_type == "image/jpeg" else {}
    image.save(out, EDITABLE_IMAGES[content_type], exif=exif.tobytes(), **options)
    return out.getvalue()


def has_location(data: bytes, content_type: str) -> bool:
    if content_type not in EDITABLE_IMAGES:
        return False
    return GPS_IFD in _open_image(data).getexif()


def thumbnail(data: bytes, content_type: str) -> bytes | None:
    """A JPEG at most THUMBNAIL_PIXELS wide and high, turned upright, without any EXIF; None for non-images."""
    if content_type not in EDITABLE_IMAGES:
        return None
    from PIL import ImageOps

    image = ImageOps.exif_transpose(_open_image(data))
    image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
