"""Media planning and rendering, through the public helpers the server uses."""

import io

import pytest
from PIL import Image, ImageStat

from mock_server import media


@pytest.mark.parametrize("params, size", [
    ({}, (1024, 1024)),
    ({"width": 512, "height": 768}, (512, 768)),
    ({"image_size": "landscape_16_9"}, (1024, 576)),
    ({"image_size": "portrait_9_16"}, (576, 1024)),
    ({"image_size": "800x600"}, (800, 600)),
    ({"aspect_ratio": "1:1"}, (1024, 1024)),
    ({"aspect_ratio": "9:21"}, (672, 1568)),
    ({"megapixels": "0.25"}, (512, 512)),
    ({"width": 100_000, "height": 3}, (2048, 16)),
])
def test_requested_size(params, size):
    assert media.requested_size(params) == size


def test_count_and_format_come_from_the_request():
    plan = media.plan({"num_outputs": 3, "output_format": "jpg"}, "image")
    assert (len(plan.sizes), plan.extension, plan.media_type) == (3, "jpg", "image/jpeg")
    assert len(media.plan({"num_images": 500}, "image").sizes) == media.MAX_COUNT


def test_images_have_varied_content_and_differ_by_digest():
    first, _ = media.media_file("00000000000000aa/256x256-0.png")
    second, _ = media.media_file("00000000000000bb/256x256-0.png")
    assert first != second
    stat = ImageStat.Stat(Image.open(io.BytesIO(first)).convert("L"))
    assert stat.stddev[0] > 10, "not a flat colour"


@pytest.mark.parametrize("path", ["../../etc/passwd", "0123456789abcdef/99999x2-0.png", "0123456789abcdef/a.png",
                                  "0123456789abcdef/64x64-0.gif", "0123456789abcdef/8x8-0.png", ""])
def test_anything_else_is_not_a_media_file(path):
    assert media.media_file(path) is None


def test_the_render_cache_is_bounded_by_bytes_and_keeps_the_recent_files():
    cache = media.ByteBoundedCache(limit=100)
    for number in range(5):
        cache.get_or_make(("file", number), lambda: b"x" * 40)
    assert cache.size == 80
    assert [("file", n) in cache for n in range(5)] == [False, False, False, True, True]
    assert cache.get_or_make(("file", 4), lambda: b"never made") == b"x" * 40
    assert cache.get_or_make(("huge",), lambda: b"y" * 500) == b"y" * 500 and ("huge",) not in cache


@pytest.mark.parametrize("extension, pil_format", [("png", "PNG"), ("jpeg", "JPEG"), ("jpg", "JPEG"),
                                                   ("webp", "WEBP")])
@pytest.mark.parametrize("width, height", [(16, 16), (1024, 576), (576, 1024), (1920, 1080), (2048, 2048)])
def test_every_format_and_size_is_a_real_image_of_that_size_drawn_the_same_each_time(extension, pil_format, width,
                                                                                     height):
    body = media._encode("00000000000000cc", 0, width, height, extension)
    with Image.open(io.BytesIO(body)) as image:
        image.load()  # decodes whole: a broken file raises here
        assert (image.format, image.size, image.mode) == (pil_format, (width, height), "RGB")
    assert media._encode("00000000000000cc", 0, width, height, extension) == body, "deterministic per digest"
    assert media._encode("00000000000000cd", 0, width, height, extension) != body
