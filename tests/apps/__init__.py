"""Real frameworks (Flask, Django) served by a real `beemo` process, driven by `requests`."""
