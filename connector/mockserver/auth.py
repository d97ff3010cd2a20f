"""The Entra (Azure AD) v2.0 endpoints MSAL uses: OpenID discovery and client credentials."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import ApiError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TokenError(Exception):
    """An OAuth error reply: `{"error", "error_description", "error_codes"}`."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.payload = {
            "error": error,
            "error_description": f"AADSTS{aadsts}: {description} "
            f"Trace ID: {uuid.uuid4()} Correlation ID: {uuid.uuid4()} "
            f"Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
            "error_codes": [aadsts],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


class Entra:
    """Issues and checks access tokens for one tenant and one registered application."""

    def __init__(
        self, url: str, tenant: str, client_id: str, client_secret: str,
        token_lifetime: int = 3599, clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.certificates: list[x509.Certificate] = []
        self._tokens: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/{self.tenant}/oauth2/v2.0/token"

    def openid_configuration(self) -> dict[str, object]:
        base = f"{self.url}/{self.tenant}"
        return {
            "token_endpoint": self.token_endpoint,
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "mock.local",
        }

    def register_certificate(self, cert_pem: bytes) -> None:
        self.certificates.append(x509.load_pem_x509_certificate(cert_pem))

    def expire_all(self) -> None:
        with self._lock:
            self._tokens = {t: (0.0, c) for t, (_, c) in self._tokens.items()}

    # -- token endpoint ----------------------------------------------------------------------

    def issue(self, form: dict[str, str], tenant: str, basic: tuple[str, str] | None) -> dict:
        if tenant != self.tenant:
            raise TokenError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type; the mock supports "
                "client_credentials only.",
            )
        client_id = form.get("client_id") or (basic[0] if basic else "")
        if client_id != self.client_id:
            raise TokenError(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant}'.",
            )
        secret = form.get("client_secret") or (basic[1] if basic else None)
        assertion = form.get("client_assertion")
        if assertion:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            self._check_assertion(assertion)
        elif secret is not None:
            if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
                raise TokenError(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    f"request is the client secret value for app '{client_id}'.",
                )
        else:
            raise TokenError(
                401, "invalid_client", 7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        scope = form.get("scope", "")
        resource = self._resource(scope)
        now = self.clock()
        claims = {
            "aud": resource, "iss": f"{self.url}/{self.tenant}/v2.0", "iat": int(now),
            "nbf": int(now), "exp": int(now + self.token_lifetime), "appid": client_id,
            "tid": self.tenant, "oid": client_id, "jti": str(uuid.uuid4()),
        }
        token = ".".join([
            _b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "mock"}).encode()),
            _b64url(json.dumps(claims).encode()),
            _b64url(secrets.token_bytes(32)),
        ])
        with self._lock:
            self._tokens[token] = (now + self.token_lifetime, client_id)
        return {
            "token_type": "Bearer", "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime, "access_token": token,
        }

    def _resource(self, scope: str) -> str:
        first = scope.split()[0] if scope.split() else ""
        if not first.endswith("/.default"):
            raise TokenError(
                400, "invalid_scope", 1002012,
                f"The provided value for scope '{scope}' is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier.",
            )
        resource = first.removesuffix("/.default").rstrip("/")
        ours = urlsplit(self.url)
        theirs = urlsplit(resource)
        if theirs.port != ours.port or theirs.hostname not in ("127.0.0.1", "localhost"):
            raise TokenError(
                400, "invalid_resource", 500011,
                f"The resource principal named {resource} was not found in the tenant.",
            )
        return resource

    def _check_assertion(self, assertion: str) -> None:
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(body_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error):
            raise TokenError(
                401, "invalid_client", 50012, "The client assertion is malformed."
            ) from None
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            raise TokenError(401, "invalid_client", 5002738, f"Unsupported assertion alg {alg}.")
        signed = f"{head_b64}.{body_b64}".encode()
        if not any(self._verify(cert, alg, signed, signature, header)
                   for cert in self.certificates):
            raise TokenError(
                401, "invalid_client", 700027,
                "Client assertion failed signature validation (no registered certificate "
                "matches).",
            )
        now = self.clock()
        if claims.get("aud") != self.token_endpoint:
            raise TokenError(
                401, "invalid_client", 50013,
                f"The client assertion audience '{claims.get('aud')}' is not the token endpoint "
                f"'{self.token_endpoint}'.",
            )
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise TokenError(
                401, "invalid_client", 50013, "Assertion iss/sub must be the client id."
            )
        if float(claims.get("exp", 0)) < now - 300:
            raise TokenError(401, "invalid_client", 500133, "The client assertion has expired.")

    @staticmethod
    def _verify(
        cert: x509.Certificate, alg: str, signed: bytes, signature: bytes, header: dict
    ) -> bool:
        der = cert.public_bytes(serialization.Encoding.DER)
        # Thumbprints arrive padded or not (MSAL pads them), so compare without padding.
        x5t = str(header.get("x5t") or "").rstrip("=")
        if x5t and x5t != _b64url(hashlib.sha1(der).digest()):
            return False
        x5t256 = str(header.get("x5t#S256") or "").rstrip("=")
        if x5t256 and x5t256 != _b64url(hashlib.sha256(der).digest()):
            return False
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15() if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        )
        try:
            key.verify(signature, signed, pad, hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    # -- Web API bearer check ----------------------------------------------------------------

    def caller(self, authorization: str) -> str:
        """The application id behind a bearer token, or a 401 ApiError."""
        challenge = {
            "WWW-Authenticate": f"Bearer authorization_uri={self.url}/{self.tenant}/oauth2/"
            f"authorize, resource_id={self.url}",
        }
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "0x80072243",
                "Bearer token is missing (MissingCrmAuthenticationToken).", challenge,
            )
        with self._lock:
            entry = self._tokens.get(token.strip())
        if entry is None:
            raise ApiError(401, "0x80072243", "The access token is invalid (InvalidAuthTicket).",
                           challenge)
        expiry, client_id = entry
        if self.clock() >= expiry:
            raise ApiError(401, "0x80072243", "The access token has expired (ExpiredAuthTicket).",
                           challenge)
        return client_id
