"""Server-side sessions: the browser holds only a random id in an HttpOnly, SameSite=Lax
(and Secure) cookie; the sign-in flow (PKCE verifier, nonce), who signed in and the CSRF token
stay on the server. Sessions end at sign-out, at expiry, or when the console restarts."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "seqsync_session"
PENDING_SIGNIN_SECONDS = 600


@dataclass
class Session:
    id: str
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    flow: dict[str, Any] | None = None
    after_signin: str = "/"
    name: str = ""
    username: str = ""
    role: str | None = None
    signed_in: bool = False
    notices: list[dict[str, Any]] = field(default_factory=list)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))

    def notice(self, text: str, kind: str = "ok", rows: list[dict[str, str]] | None = None
               ) -> None:
        """A message for the next page shown (post, redirect, get)."""
        self.notices.append({"text": text, "kind": kind, "rows": rows or []})

    def take_notices(self) -> list[dict[str, Any]]:
        notices, self.notices = self.notices, []
        return notices


class Sessions:
    def __init__(self, minutes: int, secure: bool) -> None:
        self.lifetime = minutes * 60
        self.secure = secure
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        with self._lock:
            session = self._by_id.get(sid)
            if session is not None and session.expires < time.time():
                del self._by_id[sid]
                return None
            return session

    def new(self, lifetime: float | None = None) -> Session:
        with self._lock:
            now = time.time()
            for sid in [k for k, s in self._by_id.items() if s.expires < now]:
                del self._by_id[sid]
            session = Session(secrets.token_urlsafe(32), now + (lifetime or self.lifetime))
            self._by_id[session.id] = session
            return session

    def renew(self, old: Session) -> Session:
        """A fresh id (and CSRF token) at sign-in, so an id seen before it is worth nothing."""
        self.drop(old)
        return self.new()

    def drop(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.id, None)

    def set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.id, max_age=int(session.expires - time.time()), path="/",
            httponly=True, secure=self.secure, samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=self.secure,
                               samesite="lax")
