"""flux-mock: an offline mock of the Pixazo / AppyPie Flux image-generation API, driven by its OpenAPI specs."""

__version__ = "0.1.0"
