"""Sign-in with Microsoft Entra ID: OpenID Connect authorization code flow with PKCE through
MSAL, and the id token checked here (signature against the tenant's published keys, audience,
issuer, lifetime; MSAL checks the nonce), since MSAL leaves id token validation to the app."""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import msal
import requests

from connector.config import Settings
from connector.dataverse.auth import KNOWN_AUTHORITY_HOSTS, https_session
from connector.errors import InvalidInput, SeqsyncError

MANAGER = "manager"
VIEWER = "viewer"
CLOCK_SKEW = 120  # seconds of clock difference tolerated on exp/nbf/iat


class SignInFailed(SeqsyncError):
    """The identity provider refused, or its answer did not check out."""


@dataclass(frozen=True)
class Identity:
    name: str
    username: str
    object_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class EntraSettings:
    tenant_id: str
    client_id: str
    secret_env: str
    authority_host: str
    ca_bundle: str | None

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @classmethod
    def of(cls, settings: Settings) -> EntraSettings:
        """[web] keys, falling back to [crm]'s; a missing one is named."""
        web, crm = settings.web, settings.crm
        tenant = web.tenant_id or crm.tenant_id
        client = web.client_id or crm.client_id
        if not tenant or not client:
            raise InvalidInput(
                "[web] tenant_id and client_id (or [crm] tenant_id and client_id) are needed "
                "for sign-in"
            )
        ca = web.ca_bundle or crm.ca_bundle
        return cls(
            tenant_id=tenant, client_id=client,
            secret_env=web.client_secret_env or crm.client_secret_env,
            authority_host=web.authority_host or crm.authority_host,
            ca_bundle=str(ca) if ca else None,
        )


def role_of(identity: Identity, settings: Settings) -> str | None:
    """MANAGER, VIEWER, or None for someone with neither app role."""
    if settings.web.manager_role in identity.roles:
        return MANAGER
    if settings.web.viewer_role in identity.roles:
        return VIEWER
    return None


class EntraSignIn:
    def __init__(self, settings: Settings) -> None:
        self.config = EntraSettings.of(settings)
        if not os.environ.get(self.config.secret_env):
            raise InvalidInput(
                f"no client secret for sign-in: set the environment variable "
                f"{self.config.secret_env} ([web] client_secret_env)"
            )
        ca = Path(self.config.ca_bundle) if self.config.ca_bundle else None
        self._http = https_session(ca, (settings.crm.connect_timeout, 30.0))
        self._app: msal.ConfidentialClientApplication | None = None
        self._keys: dict[str, Any] = {}
        self._discovery: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _msal(self) -> msal.ConfidentialClientApplication:
        # Built on first use: it reads the tenant's discovery document over the network.
        with self._lock:
            if self._app is None:
                host = (urlsplit(self.config.authority).hostname or "").lower()
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.config.client_id,
                        client_credential=os.environ.get(self.config.secret_env, ""),
                        authority=self.config.authority,
                        instance_discovery=host in KNOWN_AUTHORITY_HOSTS,
                        http_client=self._http,
                    )
                except (requests.RequestException, ValueError) as exc:
                    raise SignInFailed(
                        f"cannot reach the sign-in authority {self.config.authority}: "
                        f"{type(exc).__name__}"
                    ) from None
            return self._app

    def start(self, redirect_uri: str) -> dict[str, Any]:
        """A new flow: its `auth_uri` is where the browser goes; keep the rest server-side."""
        # The reply comes back in the query string, not form_post: a cross-site POST would not
        # carry the SameSite=Lax cookie that ties the flow to this browser. PKCE makes a leaked
        # code useless, and pages send no Referer.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow = self._msal().initiate_auth_code_flow(
                scopes=[], redirect_uri=redirect_uri, response_mode="query"
            )
        return dict(flow)

    def finish(self, flow: dict[str, Any], reply: dict[str, str]) -> Identity:
        try:
            result = self._msal().acquire_token_by_auth_code_flow(flow, reply)
        except ValueError as exc:  # state or nonce mismatch: a stale or forged reply
            raise SignInFailed(f"the sign-in reply does not match this browser's sign-in "
                               f"({exc})") from None
        except requests.RequestException as exc:
            raise SignInFailed(f"cannot reach the token endpoint: {type(exc).__name__}") from None
        if "error" in result or "id_token" not in result:
            detail = str(result.get("error_description") or result.get("error") or "no id token")
            raise SignInFailed(f"sign-in refused: {detail.split(' Trace ID')[0][:200]}")
        claims = self._verify(str(result["id_token"]))
        roles = claims.get("roles") or []
        return Identity(
            name=str(claims.get("name") or claims.get("preferred_username") or ""),
            username=str(claims.get("preferred_username") or ""),
            object_id=str(claims.get("oid") or claims.get("sub") or ""),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
        )

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
            key = self._key(str(kid))
            return jwt.decode(
                token, key, algorithms=["RS256"], audience=self.config.client_id,
                issuer=self._document()["issuer"].replace("{tenantid}", self.config.tenant_id),
                leeway=CLOCK_SKEW, options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"the id token does not check out: {exc}") from None

    def _document(self) -> dict[str, Any]:
        if not self._discovery:
            url = f"{self.config.authority}/v2.0/.well-known/openid-configuration"
            self._discovery = self._get(url)
        return self._discovery

    def _key(self, kid: str) -> Any:
        if kid not in self._keys:  # a new signing key: read the published set again
            keys = jwt.PyJWKSet.from_dict(self._get(self._document()["jwks_uri"]))
            self._keys = {k.key_id: k.key for k in keys.keys if k.key_id}
        if kid not in self._keys:
            raise SignInFailed(f"the id token is signed with an unknown key {kid!r}")
        return self._keys[kid]

    def _get(self, url: str) -> dict[str, Any]:
        try:
            reply = self._http.get(url)
            reply.raise_for_status()
            data = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise SignInFailed(f"cannot read {url}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise SignInFailed(f"{url} did not answer a JSON object")
        return data
