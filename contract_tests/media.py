"""What a media URL's bytes must be: not only that they download, but that they are what the answer and the
operation say. An image operation's media is an image (an image Content-Type, bytes that decode as that
format); a type the answer states (`output.media_type`, a fal image's `content_type`) is the type served; a
size it states (a fal image's `width` and `height`) is the decoded size. Weights files only have to be there.
Pure: the caller downloads; `check` and `drift` judge with the same function."""

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from contract_tests.failures import Problem

CHECK = "media-content"
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
VAGUE_TYPES = ("", "application/octet-stream")  # page 003's examples say octet-stream for images: no claim


@dataclass(frozen=True)
class Expected:
    """What one media URL's answer and operation say its bytes are."""

    image: bool  # the operation makes images (x-flux-mock media: image), not weights
    media_type: str = ""  # as the answer states it ("" or octet-stream: it does not say)
    width: int | None = None
    height: int | None = None


def expectations(answer, image: bool) -> dict[str, Expected]:
    """Each media URL of a final answer with what the answer says of it."""
    if not isinstance(answer, dict):
        return {}
    output = answer.get("output")
    if isinstance(output, dict):
        stated = output.get("media_type") if isinstance(output.get("media_type"), str) else ""
        return {url: Expected(image, stated) for url in output.get("media_url") or [] if isinstance(url, str)}
    if isinstance(output, str):
        return {output: Expected(image)}
    found = {}
    for entry in answer.get("images") or []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            width, height = entry.get("width"), entry.get("height")
            found[entry["url"]] = Expected(image, entry.get("content_type") or "",
                                           width if isinstance(width, int) else None,
                                           height if isinstance(height, int) else None)
    return found


def _served_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def media_problems(expected: Expected, content_type: str, content: bytes) -> list[Problem]:
    """How the downloaded media departs from what was said of it (nothing: it is what it should be)."""
    served, stated = _served_type(content_type), expected.media_type.lower()
    if stated not in VAGUE_TYPES and served != stated:
        return [Problem(CHECK, "Content-Type", f"{stated} (the answer's media type)", served or "none")]
    if not served.startswith("image/"):
        return [Problem(CHECK, "Content-Type", "an image type (the operation makes images)", served or "none")] \
            if expected.image else []
    try:
        with Image.open(io.BytesIO(content)) as decoded:
            size, kind = decoded.size, decoded.format
            decoded.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return [Problem(CHECK, "bytes", f"an image that decodes (Content-Type {served})",
                        f"{len(content)} bytes that do not ({type(error).__name__})")]
    problems = []
    if FORMATS.get(served, kind) != kind:
        problems.append(Problem(CHECK, "bytes", f"{FORMATS[served]} bytes (Content-Type {served})", kind))
    wanted = (expected.width, expected.height)
    if None not in wanted and tuple(size) != wanted:
        problems.append(Problem(CHECK, "size", f"{wanted[0]}x{wanted[1]} (the answer's width and height)",
                                f"{size[0]}x{size[1]}"))
    return problems
