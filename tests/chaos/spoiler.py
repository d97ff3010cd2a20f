"""Answer chosen requests by asking the real mock and then spoiling its reply.

Used by tests/hostile (HTML pages, truncated JSON, ...) and by the long throttling storm,
which answers a seeded share of requests 429 with Retry-After 1-5 s: the mock's own rate limit
is faithful, so a well-behaved client rarely meets more than a few 429s there.
"""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable

import requests
import responses
from support.world import World

# (status, headers, body, call number for this route) -> (status, headers, body)
Mutator = Callable[[int, dict[str, str], bytes, int], tuple[int, dict[str, str], bytes]]


class Hostile:
    """Answers requests matching a pattern by asking the real mock and then spoiling the reply.

    Everything else passes through to the mock untouched. urllib fetches the real reply, since
    `responses` only patches requests.
    """

    def __init__(self, world: World, rsps: responses.RequestsMock) -> None:
        self.world = world
        self.rsps = rsps
        self.calls: dict[str, int] = {}
        self._tls = ssl.create_default_context(cafile=world.crm.ca_file)

    def _real(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        real = urllib.request.Request(str(request.url), data=body, method=request.method,
                                      headers=dict(request.headers))
        try:
            with urllib.request.urlopen(real, context=self._tls, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def on(self, method: str, pattern: str, mutate: Mutator) -> None:
        def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
            n = self.calls.get(pattern, 0)
            self.calls[pattern] = n + 1
            status, headers, body = self._real(request)
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            return mutate(status, headers, body, n)

        self.rsps.add_callback(method, re.compile(re.escape(self.world.crm.api_url) + pattern),
                               callback=reply)
