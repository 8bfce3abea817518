"""The server core: transport, events, http, and the workers that wire them."""
