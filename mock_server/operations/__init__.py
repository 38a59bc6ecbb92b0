"""The OpenAPI specs as data: loading, reference resolution and the operation model."""

from mock_server.operations.documents import VENDOR_SPECS, load_bundled
from mock_server.operations.model import (STATUS_KINDS, Operation, Pricing, key_headers, load_operations,
                                          variant_names)

__all__ = ["STATUS_KINDS", "VENDOR_SPECS", "Operation", "Pricing", "key_headers", "load_bundled", "load_operations",
           "variant_names"]
