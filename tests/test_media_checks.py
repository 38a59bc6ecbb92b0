"""The kit's judgement of media bytes (contract_tests/media.py), case by case; the broken server proves the
same verdicts end to end in tests/test_kit_verdicts.py."""

import io

from PIL import Image

from contract_tests.media import Expected, expectations, media_problems


def _image(kind: str, size=(32, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, kind)
    return buffer.getvalue()


def test_an_image_of_the_stated_type_and_size_passes():
    assert media_problems(Expected(True, "image/png", 32, 16), "image/png", _image("PNG")) == []
    assert media_problems(Expected(True, "application/octet-stream"), "image/webp", _image("WEBP")) == []


def test_bytes_that_do_not_decode_or_are_another_format_are_named():
    (garbage,) = media_problems(Expected(True), "image/png", b"not an image at all")
    assert (garbage.field, garbage.expected) == ("bytes", "an image that decodes (Content-Type image/png)")
    (other,) = media_problems(Expected(True), "image/png", _image("JPEG"))
    assert (other.field, other.expected, other.got) == ("bytes", "PNG bytes (Content-Type image/png)", "JPEG")


def test_a_wrong_size_type_or_no_image_at_all_is_named():
    (size,) = media_problems(Expected(True, "", 64, 16), "image/png", _image("PNG"))
    assert (size.field, size.got) == ("size", "32x16")
    (taller,) = media_problems(Expected(True, "", 32, 99), "image/png", _image("PNG"))  # page 004: width and height
    assert (taller.field, taller.expected, taller.got) == ("size", "32x99 (the answer's width and height)", "32x16")
    for wider_or_taller in ((16, 16), (32, 8)):  # an image larger than stated is as wrong as a smaller one
        (larger,) = media_problems(Expected(True, "", *wider_or_taller), "image/png", _image("PNG"))
        assert (larger.field, larger.got) == ("size", "32x16")
    (stated,) = media_problems(Expected(True, "image/webp"), "image/png", _image("PNG"))
    assert stated.expected == "image/webp (the answer's media type)"
    (text,) = media_problems(Expected(True), "text/plain; charset=utf-8", b"hello")
    assert (text.field, text.got) == ("Content-Type", "text/plain")


def test_weights_only_have_to_be_there():
    assert media_problems(Expected(False, "application/octet-stream"), "application/octet-stream", b"\0" * 8) == []


def test_what_each_answer_shape_says_of_its_media():
    status = {"status": "COMPLETED", "output": {"media_url": ["http://m/a.png"], "media_type": "image/png"}}
    assert expectations(status, True) == {"http://m/a.png": Expected(True, "image/png")}
    fal = {"images": [{"url": "http://m/b.png", "width": 8, "height": 4, "content_type": "image/png"}]}
    assert expectations(fal, True) == {"http://m/b.png": Expected(True, "image/png", 8, 4)}
    assert expectations({"output": "http://m/c.png"}, True) == {"http://m/c.png": Expected(True)}
