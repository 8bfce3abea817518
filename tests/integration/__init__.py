"""Integration tests: a real `beemo` process over real sockets."""
