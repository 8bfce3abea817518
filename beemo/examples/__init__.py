"""Example apps bundled with Beemo."""
