"""MSAL client-credentials tokens with a token cache only its owner can read."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from requests.adapters import HTTPAdapter

from connector.config import CrmConfig
from connector.dataverse.errors import AuthFailed, CrmUnreachable, one_line
from connector.dataverse.retry import RetryableUnreachable
from connector.errors import InvalidInput

log = logging.getLogger("seqsync.auth")

# Hosts MSAL can validate through instance discovery; anything else (sovereign test hosts,
# the mock on 127.0.0.1) must skip discovery or MSAL calls login.microsoftonline.com first.
KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login-us.microsoftonline.com",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
    }
)


class TokenProvider(Protocol):
    def get_token(self, force_refresh: bool = False) -> str: ...


def require_https(url: str | None, key: str) -> str:
    if not url or urlsplit(url).scheme.lower() != "https" or not urlsplit(url).hostname:
        raise InvalidInput(f"[crm] {key} must be an https:// URL (got {url!r})")
    return url


class TokenCacheFile:
    """msal.SerializableTokenCache persisted to a 0600 file, refused if others can read it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.cache = msal.SerializableTokenCache()
        self._lock = threading.Lock()

    def load(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise InvalidInput(f"{self.path}: cannot read token cache: {exc.strerror}") from None
        with os.fdopen(fd, "r", encoding="utf-8") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InvalidInput(
                    f"{self.path}: token cache is readable by other users (mode "
                    f"{stat.S_IMODE(mode):04o}); run `chmod 600 {self.path}` or delete it"
                )
            text = fh.read()
        if text.strip():
            try:
                self.cache.deserialize(text)
            except ValueError:
                # A corrupt cache only costs one token request; it is rewritten below.
                self.cache = msal.SerializableTokenCache()

    def save(self) -> None:
        with self._lock:
            if not self.cache.has_state_changed:
                return
            data = self.cache.serialize()
            directory = self.path.parent if str(self.path.parent) else Path(".")
            # mkstemp creates the file 0600 from the start; replace() makes the write atomic.
            try:
                fd, tmp = tempfile.mkstemp(prefix=".seqsync-token-", dir=directory)
            except OSError as exc:
                raise InvalidInput(
                    f"{self.path}: cannot write token cache: {exc.strerror}"
                ) from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data)
                os.replace(tmp, self.path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                raise InvalidInput(
                    f"{self.path}: cannot write token cache: {exc.strerror}"
                ) from None
            self.cache.has_state_changed = False


def _certificate_credential(crm: CrmConfig) -> dict[str, str]:
    path = crm.certificate_path
    assert path is not None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"[crm] certificate_path {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
        cert = x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"[crm] certificate_path {path}: needs an unencrypted PEM private key and certificate"
        ) from None
    thumbprint = crm.certificate_thumbprint or hashlib.sha1(
        cert.public_bytes(serialization.Encoding.DER)
    ).hexdigest()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return {"private_key": key_pem, "thumbprint": thumbprint.replace(":", "").upper()}


def secret_env_text(crm: CrmConfig) -> str:
    """The variable name for messages, unless it looks like a pasted secret.

    Variable names are conventionally upper case; a mixed-case value of secret length is far
    more likely the secret itself, which must not be printed back.
    """
    name = crm.client_secret_env
    if name.isupper() or len(name) < 16:
        return name
    return "<not shown: it looks like a secret, not a variable name>"


def client_credential(crm: CrmConfig) -> str | dict[str, str]:
    if crm.certificate_path is not None:
        return _certificate_credential(crm)
    secret = os.environ.get(crm.client_secret_env)
    if not secret:
        raise InvalidInput(
            f"no client secret: set the environment variable {secret_env_text(crm)} "
            "(see [crm] client_secret_env) or configure [crm] certificate_path"
        )
    return secret


def msal_http_client(crm: CrmConfig) -> requests.Session:
    """The session MSAL uses: our timeouts, and `ca_bundle` even when REQUESTS_CA_BUNDLE is set.

    MSAL's own `verify=` sets `Session.verify`, which requests lets REQUESTS_CA_BUNDLE
    override (psf/requests#3829); a per-request `verify` always wins.
    """
    session = requests.Session()
    # No retries of its own: the client's one retry policy decides (see get_token).
    session.mount("https://", HTTPAdapter(max_retries=0))
    options: dict[str, Any] = {"timeout": (crm.connect_timeout, crm.read_timeout)}
    if crm.ca_bundle is not None:
        options["verify"] = str(crm.ca_bundle)
    session.request = functools.partial(session.request, **options)  # type: ignore[method-assign]
    return session


class MsalTokenProvider:
    """App-only tokens for `<crm url>/.default`, cached on disk across runs."""

    def __init__(self, crm: CrmConfig, *, http_client: Any = None) -> None:
        if not crm.client_id or not crm.tenant_id:
            raise InvalidInput("[crm] client_id and tenant_id are required")
        url = require_https(crm.url, "url")
        authority = require_https(crm.authority, "authority_host")
        self.scopes = [f"{url.rstrip('/')}/.default"]
        self.cache_file = TokenCacheFile(crm.token_cache)
        self.cache_file.load()
        host = (urlsplit(authority).hostname or "").lower()
        kwargs: dict[str, Any] = {
            "http_client": http_client if http_client is not None else msal_http_client(crm)
        }
        self._lock = threading.Lock()
        try:
            self.app = msal.ConfidentialClientApplication(
                crm.client_id,
                client_credential=client_credential(crm),
                authority=authority,
                token_cache=self.cache_file.cache,
                instance_discovery=host in KNOWN_AUTHORITY_HOSTS,
                **kwargs,
            )
        except requests.exceptions.SSLError:
            raise CrmUnreachable(f"TLS verification failed for the authority {authority} "
                                 "(set [crm] ca_bundle?)") from None
        except requests.RequestException as exc:
            raise CrmUnreachable(f"cannot reach the authority {authority}: "
                                 f"{type(exc).__name__}") from None
        except ValueError as exc:
            raise AuthFailed(None, None, f"authority {authority} rejected: "
                             f"{one_line(str(exc), 200)}") from None

    def get_token(self, force_refresh: bool = False) -> str:
        # MSAL serves cached app tokens until < 5 minutes remain, then asks for a new one.
        with self._lock:
            try:
                if force_refresh:
                    # acquire_token_for_client has no force_refresh: drop the cached token.
                    self.app.remove_tokens_for_client()
                result = self.app.acquire_token_for_client(scopes=self.scopes)
            except requests.exceptions.SSLError as exc:
                raise CrmUnreachable(
                    f"cannot reach the token endpoint: {type(exc).__name__}"
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                # The client's retry policy sends again; MSAL's session does not retry itself.
                raise RetryableUnreachable(
                    f"cannot reach the token endpoint: {type(exc).__name__}"
                ) from None
            except requests.RequestException as exc:
                raise CrmUnreachable(
                    f"cannot reach the token endpoint: {type(exc).__name__}"
                ) from None
            except ValueError as exc:
                raise AuthFailed(None, None, f"token request failed: {one_line(str(exc), 200)}"
                                 ) from None
            if not result or "access_token" not in result:
                error = (result or {}).get("error", "no_token")
                detail = (result or {}).get("error_description", "")
                first = one_line(str(detail), 200).split(" Trace ID")[0]
                raise AuthFailed(
                    None, str(error),
                    f"token request refused: {first or 'no detail'}: "
                    "check client id/secret or certificate",
                )
            try:
                self.cache_file.save()
            except InvalidInput as exc:
                # A full disk or a read-only folder must not stop a run that holds a token.
                log.warning("%s; this run goes on with the token in memory", exc)
            return str(result["access_token"])
