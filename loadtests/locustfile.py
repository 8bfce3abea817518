"""Locust load test of the bundled example app, `beemo beemo.examples.hello:app`.

    pip install -e '.[load]'
    beemo beemo.examples.hello:app --threads 4 &
    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 30s --host http://127.0.0.1:8000

Every response is checked (status, framing and exact body), so a fast but wrong server shows
up as failures, not as throughput.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, task

HELLO = b"Hello from Beemo!\n"
STREAM = b"".join(f"line {n}\n".encode() for n in range(5))


class HelloUser(FastHttpUser):
    """A client that mostly reads the greeting, sometimes echoes a body or reads the stream."""

    wait_time = between(0.01, 0.05)

    @task(10)
    def hello(self) -> None:
        with self.client.get("/", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"GET / answered {response.status_code}")
            elif response.content != HELLO:
                response.failure(f"GET / body {response.content[:80]!r}")
            elif response.headers.get("Content-Length") != str(len(HELLO)):
                response.failure(f"GET / Content-Length {response.headers.get('Content-Length')}")

    @task(3)
    def echo(self) -> None:
        body = random.randbytes(random.choice((16, 1024, 64 * 1024)))
        with self.client.post(
            "/echo",
            data=body,
            catch_response=True,
            headers={"Content-Type": "application/octet-stream"},
        ) as response:
            if response.status_code != 200:
                response.failure(f"POST /echo answered {response.status_code}")
            elif response.content != body:
                response.failure(
                    f"POST /echo returned {len(response.content or b'')} bytes, sent {len(body)}"
                )

    @task(2)
    def stream(self) -> None:
        with self.client.get("/stream", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"GET /stream answered {response.status_code}")
            elif response.headers.get("Transfer-Encoding") != "chunked":
                response.failure("GET /stream was not chunked")
            elif response.content != STREAM:
                response.failure(f"GET /stream body {response.content[:80]!r}")
