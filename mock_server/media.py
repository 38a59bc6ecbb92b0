"""Deterministic media: what a request asks for (sizes, count, format) and the files themselves.

A media URL carries everything needed to draw it again - `/media/{digest}/{w}x{h}-{i}.{ext}` -
so any instance answers it, before or after a restart. `digest` hashes model, prompt, seed and the
input images: the same seed, prompt and inputs give the same image.
"""

import base64
import hashlib
import io
import json
import math
import random
import re
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from collections import OrderedDict
from functools import lru_cache
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFilter

# Named sizes of the image_size enums (fal's conventions for the square_hd family).
NAMED_SIZES = {
    "square_hd": (1024, 1024), "square": (512, 512), "square_1_1": (1024, 1024),
    "portrait_4_3": (768, 1024), "portrait_16_9": (576, 1024), "portrait_4_5": (816, 1024),
    "portrait_9_16": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
    "landscape_3_2": (1024, 688), "landscape_21_9": (1024, 448), "auto": (1024, 1024),
}
MEGAPIXELS = {"0.25": (512, 512), "1": (1024, 1024), "match_input": (1024, 1024)}
FORMATS = {"png": ("png", "image/png"), "jpeg": ("jpeg", "image/jpeg"), "jpg": ("jpg", "image/jpeg"),
           "webp": ("webp", "image/webp")}
PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
WEIGHTS_TYPE = "application/octet-stream"
WEIGHTS_EXTENSION = "safetensors"
MIN_SIDE, MAX_SIDE, MAX_COUNT = 16, 2048, 8
DEFAULT_SIDE = 1024
INPUT_IMAGE_FIELDS = ("image", "image_url", "image_urls", "image_data_url", "input_image", "mask")
MEDIA_PATH = re.compile(r"^(?P<digest>[0-9a-f]{16})/(?:(?P<w>\d{1,4})x(?P<h>\d{1,4})-(?P<i>\d)\.(?P<ext>png|jpeg|jpg|webp)"
                        r"|lora-(?P<li>\d)\.safetensors)$")


class MediaPlan(NamedTuple):
    """What a call produces (a NamedTuple: made once a call, and a frozen dataclass took 3x as long)."""

    sizes: tuple[tuple[int, int], ...]
    extension: str
    media_type: str

    @property
    def is_weights(self) -> bool:
        """A trainer's LoRA weights (one .safetensors file), not images."""
        return self.extension == WEIGHTS_EXTENSION

    @property
    def width(self) -> int:
        return self.sizes[0][0]

    @property
    def height(self) -> int:
        return self.sizes[0][1]


def _clamp(side) -> int:
    return max(MIN_SIDE, min(MAX_SIDE, int(side)))


def _aspect_size(ratio: str) -> tuple[int, int]:
    across, down = (int(part) for part in ratio.split(":"))
    width = math.sqrt(DEFAULT_SIDE * DEFAULT_SIDE * across / down)
    return round(width / 16) * 16, round(width * down / across / 16) * 16


def input_size(params: dict) -> tuple[int, int] | None:
    """The size of the first input image given as a base64 `data:` URL (its header only is read); None
    when there is none, or it is no image (a URL elsewhere cannot be fetched offline)."""
    for name in INPUT_IMAGE_FIELDS:
        value = params.get(name)
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(value, str) and value.startswith("data:") and ";base64," in value[:200]:
            try:
                with Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1]))) as image:
                    return image.size
            except (ValueError, OSError, Image.DecompressionBombError):
                return None
    return None


def requested_size(params: dict) -> tuple[int, int]:
    """The size a request asks for, by whichever documented field it uses; `image_size: auto` and
    `megapixels: match_input` keep the size of an input image given as a data: URL; 1024 x 1024 otherwise."""
    size = params.get("image_size")
    matched = input_size(params) if size == "auto" or params.get("megapixels") == "match_input" else None
    if matched is not None:
        width, height = matched
    elif isinstance(size, str) and re.fullmatch(r"[1-9]\d*x[1-9]\d*", size):
        width, height = (int(part) for part in size.split("x"))
    elif size in NAMED_SIZES:
        width, height = NAMED_SIZES[size]
    elif params.get("aspect_ratio"):
        width, height = _aspect_size(params["aspect_ratio"])
    elif params.get("megapixels") in MEGAPIXELS:
        width, height = MEGAPIXELS[params["megapixels"]]
    else:
        width, height = params.get("width") or DEFAULT_SIDE, params.get("height") or DEFAULT_SIDE
    return _clamp(width), _clamp(height)


def plan(params: dict, kind: str | None, default_format: str | None = None) -> MediaPlan:
    """What a job or sync call produces: `params` are the request's fields over the spec's defaults; the format
    is the request's `output_format`, else the operation's own (Klein: JPEG), else PNG."""
    count = max(1, min(MAX_COUNT, int(params.get("num_images") or params.get("num_outputs") or 1)))
    if kind == "weights":
        return MediaPlan(sizes=((0, 0),) * 1, extension=WEIGHTS_EXTENSION, media_type=WEIGHTS_TYPE)
    extension, media_type = FORMATS.get(str(params.get("output_format", default_format or "png")), FORMATS["png"])
    return MediaPlan(sizes=(requested_size(params),) * count, extension=extension, media_type=media_type)


def digest(model_id: str, prompt: str, seed, inputs: dict | None = None) -> str:
    """What the picture depends on: model, seed, prompt and the input images (by their URLs or data), so
    different inputs give different outputs."""
    inputs = inputs or {}
    given = {name: inputs[name] for name in INPUT_IMAGE_FIELDS if inputs.get(name) is not None}
    text = f"{model_id}\x1f{seed}\x1f{prompt}" + (f"\x1f{json.dumps(given, sort_keys=True)}" if given else "")
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def urls(media_plan: MediaPlan, media_digest: str) -> tuple[str, ...]:
    """Paths (below the public base URL) of the files a plan produces."""
    if media_plan.is_weights:
        return (f"/media/{media_digest}/lora-0.{WEIGHTS_EXTENSION}",)
    return tuple(f"/media/{media_digest}/{w}x{h}-{i}.{media_plan.extension}"
                 for i, (w, h) in enumerate(media_plan.sizes))


# The gateway's layouts (flux.yaml x-evidence media-hosts-and-layouts), served beside /media/: a job's media
# under its request id, a sync call's under its model's folder. Each still names everything needed to draw it
# again: a job's through the job (its /media path), a sync file's through `n`, which packs digest, size and index
# in one decimal number (longer than the gateway's 1-6 digits: the price of needing no store).
JOB_MEDIA = re.compile(r"^output(?:_(?P<i>[1-7]))?\.(?P<ext>png|jpeg|jpg|webp|safetensors)$")
SYNC_NAME = re.compile(r"^(?P<head>[A-Za-z-]*?)(?P<ms>\d{1,16})-(?P<n>\d{1,40})\.(?P<ext>png|jpeg|jpg|webp)$")
_SIDES = MAX_SIDE + 1


def job_media_path(request_id: str, index: int, path: str) -> str:
    """Where the gateway keeps a job's file `index` (its /media `path`): /v1/{request_id}/output[_i].{ext}."""
    extension = path.rsplit(".", 1)[-1]
    return f"/v1/{request_id}/output{f'_{index}' if index else ''}.{extension}"


def job_media_index(name: str) -> tuple[int, str] | None:
    """(index, extension) of a job file's name (`output.png`, `output_2.jpg`), or None."""
    found = JOB_MEDIA.match(name)
    return (int(found["i"] or 0), found["ext"]) if found else None


def sync_media_path(template: str, media_digest: str, size: tuple[int, int], extension: str, epoch: float,
                    index: int = 0) -> str:
    """A sync call's file `index` in its model's layout, e.g. flux-schnell-cf/prompt-{ms}-{n}.{ext}: `n` packs
    the /media path's digest, size and index (sync_media_file reads it back)."""
    packed = ((int(media_digest, 16) * _SIDES + size[0]) * _SIDES + size[1]) * 8 + index
    return "/" + template.format(ms=int(epoch * 1000), n=packed, ext=extension)


def sync_media_file(name: str) -> str | None:
    """The /media path (below /media/) a sync layout file name stands for, or None."""
    found = SYNC_NAME.match(name)
    if found is None:
        return None
    rest, index = divmod(int(found["n"]), 8)
    rest, height = divmod(rest, _SIDES)
    media_digest, width = divmod(rest, _SIDES)
    if media_digest >= 1 << 64:
        return None
    return f"{media_digest:016x}/{width}x{height}-{index}.{found['ext']}"


def _palette(rng: random.Random) -> list[tuple[int, int, int]]:
    return [tuple(rng.randrange(256) for _ in range(3)) for _ in range(6)]


BASE_SIDE = 192  # pixels of the picture's longer side as drawn; it is then scaled to the asked size


def draw_image(media_digest: str, index: int, width: int, height: int) -> Image.Image:
    """A picture that varies with digest and index: gradient sky and soft shapes, drawn small (BASE_SIDE on its
    longer side) and scaled to the asked size by repeating pixels. What costs is encoding the full size, and
    flat runs encode fast: the first download of a 1920 x 1080 PNG went from about 220 ms (full-size drawing,
    blur and grain) to under 30 ms (benchmarks/media_speed.py)."""
    rng = random.Random(f"{media_digest}:{index}")
    colours = _palette(rng)
    if width >= height:
        across, down = min(width, BASE_SIDE), max(1, round(min(width, BASE_SIDE) * height / width))
    else:
        across, down = max(1, round(min(height, BASE_SIDE) * width / height)), min(height, BASE_SIDE)
    top, bottom = Image.new("RGB", (across, down), colours[0]), Image.new("RGB", (across, down), colours[1])
    gradient = Image.linear_gradient("L").resize((across, down)).rotate(rng.uniform(0, 360))
    image = Image.composite(top, bottom, gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(12 + rng.randrange(12)):
        x, y = rng.randrange(across), rng.randrange(down)
        radius = rng.randrange(max(2, min(across, down) // 12), max(3, min(across, down) // 3))
        box = (x - radius, y - rng.randrange(1, radius + 1), x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=rng.choice(colours))
        else:
            draw.rectangle(box, fill=rng.choice(colours))
    image = image.filter(ImageFilter.GaussianBlur(radius=1))
    grain = Image.frombytes("L", (across, down), rng.randbytes(across * down)).convert("RGB")
    return Image.blend(image, grain, 0.12).resize((width, height), Image.Resampling.NEAREST)


def png_bytes(image: Image.Image, level: int = 1) -> bytes:
    """An RGB image as PNG, written here: each row unfiltered, the whole deflated once at `level` (Pillow's
    encoder chooses a filter per row, which took most of a large image's time)."""
    width, height = image.size
    raw, stride = image.tobytes(), width * 3
    rows = b"".join(b"\x00" + raw[start:start + stride] for start in range(0, len(raw), stride))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate, no interlace
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, level)) + _chunk(b"IEND", b"")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class ByteBoundedCache:
    """Least-recently-used files, at most `limit` bytes in all (a 2048 x 2048 PNG is about 7 MB, so a
    count alone would not bound memory). Safe across the threads media is rendered in."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._files: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def __contains__(self, key: tuple) -> bool:
        return key in self._files

    def get_or_make(self, key: tuple, make) -> bytes:
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        made = make()
        with self._lock:
            if key not in self._files and len(made) <= self.limit:
                self._files[key] = made
                self._size += len(made)
                while self._size > self.limit:
                    _, dropped = self._files.popitem(last=False)
                    self._size -= len(dropped)
        return made


RENDERED = ByteBoundedCache(64 * 1024 * 1024)
# Rendering runs on these two threads only: each thread keeps its own allocator arenas, so a render on
# every worker thread (80 concurrent 2048 x 2048 downloads) took 3.5 GB; two threads keep it near 400 MB.
RENDERING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flux-mock-render")


def render_image(media_digest: str, index: int, width: int, height: int, extension: str) -> bytes:
    key = (media_digest, index, width, height, extension)
    return RENDERED.get_or_make(key, lambda: _encode(media_digest, index, width, height, extension))


def _encode(media_digest: str, index: int, width: int, height: int, extension: str) -> bytes:
    image = draw_image(media_digest, index, _clamp(width), _clamp(height))
    if extension == "png":
        return png_bytes(image)
    buffer = io.BytesIO()
    # WebP's fastest method: its default spent 60 ms on a 1024 x 1024 picture
    options = {"quality": 90} if extension in ("jpeg", "jpg") else {"quality": 80, "method": 0}
    image.save(buffer, format=PIL_FORMAT[extension], **options)
    return buffer.getvalue()


@lru_cache(maxsize=16)
def render_weights(media_digest: str, index: int) -> bytes:
    """A small, valid safetensors file: the LoRA a trainer job produces."""
    rng = random.Random(f"{media_digest}:lora:{index}")
    tensors, offset, data = {}, 0, b""
    for layer in range(4):
        chunk = rng.randbytes(4 * 16 * 64)
        tensors[f"lora_unet_block_{layer}.lora_down.weight"] = {
            "dtype": "F32", "shape": [16, 64], "data_offsets": [offset, offset + len(chunk)]}
        offset, data = offset + len(chunk), data + chunk
    header = json.dumps({"__metadata__": {"format": "pt", "source": "flux-mock"}, **tensors}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def media_file(path: str) -> tuple[bytes, str] | None:
    """The bytes and Content-Type of a media path (after /media/), or None if it is not one of ours."""
    match = MEDIA_PATH.match(path)
    if not match:
        return None
    if match["li"] is not None:
        return render_weights(match["digest"], int(match["li"])), WEIGHTS_TYPE
    width, height = int(match["w"]), int(match["h"])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        return None
    body = render_image(match["digest"], int(match["i"]), width, height, match["ext"])
    return body, FORMATS[match["ext"]][1]


def rendered_for_name(name: str, seed: str) -> tuple[bytes, str] | None:
    """A file named like a recorded media file whose bytes were not recorded: an image in its extension's
    format (DEFAULT_SIDE square), weights for .safetensors, drawn from `seed`; None for another kind."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else "png"
    media_digest = hashlib.sha256(seed.encode()).hexdigest()[:16]
    if extension == "safetensors":
        return render_weights(media_digest, 0), WEIGHTS_TYPE
    if extension not in FORMATS:
        return None
    return render_image(media_digest, 0, DEFAULT_SIDE, DEFAULT_SIDE, extension), FORMATS[extension][1]
