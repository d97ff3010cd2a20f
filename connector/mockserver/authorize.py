"""Entra sign-in for people: the authorize page, the authorization-code grant with PKCE, and
OpenID Connect id tokens signed with a key published at the tenant's jwks_uri.

The people who can sign in are the mock's system users (the built-in sellers, plus any a seed
adds). Their app roles stand for the app registration's role assignments: a seeded user's
`approles` column ("Sequence.Manager", several separated by spaces, commas or semicolons), else
`app_roles` keyed by user name (domainname), which gives the built-in sellers theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .auth import Entra, TokenError, _b64url
from .messages import ApiResponse
from .service import Dataverse

CODE_LIFETIME = 300  # seconds, as Entra's authorization codes (about 5 minutes)
ID_TOKEN_LIFETIME = 3600
DEFAULT_APP_ROLES: dict[str, tuple[str, ...]] = {
    "avery.seller@contoso.example": ("Sequence.Manager",),
    "blake.seller@contoso.example": ("Sequence.Viewer",),
}
_REQUIRED = ("client_id", "response_type", "redirect_uri", "code_challenge")


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    scope: str
    user: dict[str, object]
    expires: float


class SignIn:
    """GET/POST /{tenant}/oauth2/v2.0/authorize, GET /{tenant}/discovery/v2.0/keys, and the
    token endpoint's `authorization_code` grant."""

    def __init__(self, entra: Entra, dv: Dataverse) -> None:
        self.entra = entra
        self.dv = dv
        self.app_roles: dict[str, tuple[str, ...]] = dict(DEFAULT_APP_ROLES)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def route(
        self, method: str, path: str, query: list[tuple[str, str]], body: bytes
    ) -> tuple[str, ApiResponse] | None:
        """(route name, response) for a sign-in path, or None for any other path."""
        parts = path.strip("/").split("/")
        if len(parts) != 4:
            return None
        tenant, what = parts[0], "/".join(parts[1:])
        if what == "discovery/v2.0/keys":
            return "GET keys", self._tenant_checked(tenant) or ApiResponse.json(200, self.jwks())
        if what != "oauth2/v2.0/authorize":
            return None
        wrong = self._tenant_checked(tenant)
        if wrong is not None:
            return f"{method} authorize", wrong
        if method == "POST":
            form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
            return "POST authorize", self._grant(form)
        return "GET authorize", self._page(dict(query))

    def _tenant_checked(self, tenant: str) -> ApiResponse | None:
        if tenant == self.entra.tenant:
            return None
        return _page(400, "Sign-in failed", f"AADSTS90002: Tenant '{tenant}' not found.")

    def jwks(self) -> dict[str, object]:
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid,
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
            "issuer": self.issuer,
        }]}

    @property
    def issuer(self) -> str:
        return f"{self.entra.url}/{self.entra.tenant}/v2.0"

    # -- the authorize page ------------------------------------------------------------------

    def _problem(self, params: dict[str, str]) -> str | None:
        missing = [k for k in _REQUIRED if not params.get(k)]
        if missing:
            return f"AADSTS900144: The request body must contain the parameter '{missing[0]}'."
        if params["client_id"] != self.entra.client_id:
            return (f"AADSTS700016: Application with identifier '{params['client_id']}' was not "
                    f"found in the directory '{self.entra.tenant}'.")
        if params["response_type"] != "code":
            return "AADSTS70005: response_type must be 'code' (authorization code flow)."
        if params.get("code_challenge_method", "plain") != "S256":
            return "AADSTS50146: code_challenge_method must be S256."
        if urlsplit(params["redirect_uri"]).scheme not in ("http", "https"):
            return "AADSTS50011: The redirect URI must be an http(s) URL."
        return None

    def roles_of(self, user: dict[str, object]) -> tuple[str, ...]:
        given = user.get("approles")
        if isinstance(given, str):
            return tuple(r for r in re.split(r"[\s,;]+", given) if r)
        return self.app_roles.get(str(user.get("domainname") or "").lower(), ())

    def users(self) -> list[dict[str, object]]:
        with self.dv.store.lock:
            rows = list(self.dv.table("systemusers").rows.values())
        return [
            dict(r) for r in rows
            if r.get("systemuserid") != self.dv.app_user_id and not r.get("isdisabled")
        ]

    def _page(self, params: dict[str, str]) -> ApiResponse:
        problem = self._problem(params)
        if problem:
            return _page(400, "Sign-in failed", problem)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items() if k != "login_hint"
        )
        buttons = []
        for user in self.users():
            login = str(user.get("domainname") or "")
            roles = ", ".join(self.roles_of(user)) or "no app roles"
            buttons.append(
                f'<li><button type="submit" name="login_hint" value="{html.escape(login)}">'
                f'{html.escape(str(user.get("fullname") or login))}</button> '
                f'<small>{html.escape(login)} ({html.escape(roles)})</small></li>'
            )
        body = (f'<p>Pick an account (mock tenant {html.escape(self.entra.tenant)}).</p>'
                f'<form method="post"><ul>{"".join(buttons)}</ul>{hidden}</form>')
        return _page(200, "Sign in", body, raw=True)

    def _grant(self, form: dict[str, str]) -> ApiResponse:
        problem = self._problem(form)
        if problem:
            return _page(400, "Sign-in failed", problem)
        login = form.get("login_hint", "").lower()
        user = next((u for u in self.users() if str(u.get("domainname")).lower() == login), None)
        if user is None:
            return _page(400, "Sign-in failed",
                         f"AADSTS50034: The user account {login!r} does not exist.")
        code = secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Grant(
                form["client_id"], form["redirect_uri"], form["code_challenge"],
                form.get("nonce", ""), form.get("scope", ""), user,
                self.entra.clock() + CODE_LIFETIME,
            )
        reply = {"code": code, "session_state": str(uuid.uuid4())}
        if form.get("state"):
            reply["state"] = form["state"]
        sep = "&" if urlsplit(form["redirect_uri"]).query else "?"
        return ApiResponse(302, {"Location": form["redirect_uri"] + sep + urlencode(reply),
                                 "Cache-Control": "no-store"})

    # -- the token endpoint's authorization_code grant ---------------------------------------

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, object]:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or grant.expires < self.entra.clock():
            raise TokenError(400, "invalid_grant", 70008,
                             "The provided authorization code or refresh token has expired "
                             "or was already redeemed.")
        client_id = form.get("client_id") or (basic[0] if basic else "")
        if client_id != grant.client_id:
            raise TokenError(400, "invalid_grant", 70002,
                             "The code was issued to another client.")
        secret = form.get("client_secret") or (basic[1] if basic else "")
        if form.get("client_assertion"):
            self.entra._check_assertion(form["client_assertion"])
        elif not hmac.compare_digest(secret.encode(), self.entra.client_secret.encode()):
            raise TokenError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise TokenError(400, "invalid_grant", 50011,
                             "The redirect URI does not match the one the code was issued for.")
        verifier = form.get("code_verifier", "")
        if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            raise TokenError(400, "invalid_grant", 501481,
                             "The Code_Verifier does not match the code_challenge supplied in "
                             "the authorization request.")
        user = grant.user
        oid = str(user.get("systemuserid"))
        login = str(user.get("domainname") or "")
        now = int(self.entra.clock())
        claims: dict[str, object] = {
            "aud": grant.client_id, "iss": self.issuer, "iat": now, "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME, "sub": _b64url(hashlib.sha256(
                f"{oid}:{grant.client_id}".encode()).digest()),
            "oid": oid, "tid": self.entra.tenant, "ver": "2.0",
            "name": str(user.get("fullname") or login), "preferred_username": login,
        }
        roles = self.roles_of(user)
        if roles:
            claims["roles"] = list(roles)
        if grant.nonce:
            claims["nonce"] = grant.nonce
        return {
            "token_type": "Bearer", "scope": grant.scope, "expires_in": ID_TOKEN_LIFETIME,
            "ext_expires_in": ID_TOKEN_LIFETIME, "access_token": secrets.token_urlsafe(32),
            "id_token": self._sign(claims),
            "client_info": _b64url(json.dumps({"uid": oid, "utid": self.entra.tenant}).encode()),
        }

    def _sign(self, claims: dict[str, object]) -> str:
        head = _b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": self._kid}).encode())
        body = _b64url(json.dumps(claims).encode())
        signature = self._key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64url(signature)}"


def _page(status: int, title: str, text: str, raw: bool = False) -> ApiResponse:
    content = text if raw else f"<p>{html.escape(text)}</p>"
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1>{content}</body></html>")
    return ApiResponse(status, {
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
        "Content-Security-Policy":
            "default-src 'none'; form-action 'self' http: https:; frame-ancestors 'none'",
        "X-Frame-Options": "DENY",
    }, body.encode())
