"""Adapters turn HTTP messages into application calls: WSGI (PEP 3333) here, ASGI next."""
