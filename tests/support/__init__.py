"""What the tests start and wait on: loopback servers (a broken gateway, a foreign ASGI app, Redis, a quiet
HTTP receiver), the container engine, free ports and the one condition wait."""
