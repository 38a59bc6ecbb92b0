"""Where the shipped specs and fixtures are: inside the wheel, or beside the package in a checkout."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` ("openapi" or "fixtures") of this installation."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


def spec_dir() -> Path:
    return data_dir("openapi")


def fixtures_dir() -> Path:
    return data_dir("fixtures")
