"""Configuration: `seqsync.toml` plus `SEQSYNC_<SECTION>__<KEY>` environment overrides.

Where the file comes from, in order: `--config PATH`, `$SEQSYNC_CONFIG`, `./seqsync.toml`. No file
at all is fine (every key has a default) until a command needs `[crm]`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.errors import InvalidInput, printable
from connector.tomlfile import read_toml

DEFAULT_FILE = "seqsync.toml"
ENV_FILE_VAR = "SEQSYNC_CONFIG"


class ConfigError(InvalidInput):
    """A configuration problem, already phrased for the user (file and key)."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _https(value: str, key: str, *, bare: bool = False) -> str:
    """Whitespace around is dropped (a pasted value often carries some); anything else odd is
    refused here, not later at MSAL with a misleading hint. `bare`: no path allowed."""
    text = value.strip()
    if not text.lower().startswith("https://"):
        raise ValueError(f"{key} must be an https:// URL (got {value!r})")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError(f"{key} must not contain spaces or control characters (got {value!r})")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{key} is not a valid URL (got {value!r})") from None
    if not parts.hostname or parts.username or parts.password:
        raise ValueError(f"{key} must name a host, without user or password (got {value!r})")
    if parts.query or parts.fragment:
        raise ValueError(f"{key} must not have a query or fragment (got {value!r})")
    if bare and parts.path.strip("/"):
        raise ValueError(
            f"{key} must be the environment's address only, like https://org.crm.dynamics.com "
            f"(got {value!r})"
        )
    return text.rstrip("/")


def _identifier(value: str | None, key: str, what: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not _TOKEN.fullmatch(text):
        raise ValueError(f"{key} must be {what} (got {value!r})")
    return text.lower() if _GUID.fullmatch(text) else text


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _env_name(cls: type, v: str | None) -> str | None:
    # Never echo the value: people paste the secret itself here by mistake.
    if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        raise ValueError(
            "must be the NAME of an environment variable (letters, digits, _) that holds "
            "the secret, not the secret itself"
        )
    return v


class StateConfig(Section):
    url: str = Field(default="sqlite:///seqsync.db", description="SQLAlchemy database URL")
    # Server databases only (PostgreSQL): connections each process may hold. A sync holds one
    # for its transaction plus one per parallel push chunk; see docs/production.md for sizing.
    pool_size: int = Field(default=5, ge=1, le=200)
    max_overflow: int = Field(default=5, ge=0, le=200)
    pool_timeout: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)


class WorkersConfig(Section):
    """Several workers on one PostgreSQL state (docs/production.md)."""

    requests_per_window: int = Field(default=5400, ge=1)
    window_seconds: float = Field(default=300.0, gt=0)
    seen_within_minutes: int = Field(default=15, ge=1)


class CrmConfig(Section):
    url: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str = "SEQSYNC_CLIENT_SECRET"
    certificate_path: Path | None = None
    certificate_thumbprint: str | None = None
    authority_host: str = "https://login.microsoftonline.com"
    ca_bundle: Path | None = None
    token_cache: Path = Path(".seqsync-token-cache.json")
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0)
    api_version: str = Field(default="9.2", pattern=r"^\d+\.\d+$")
    max_retries: int = Field(default=8, ge=0, le=50)
    max_retry_seconds: float = Field(default=600.0, gt=0)

    _secret_env = field_validator("client_secret_env")(_env_name)

    @field_validator("url")
    @classmethod
    def _url_https(cls, v: str | None) -> str | None:
        return None if v is None else _https(v, "url", bare=True)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str | None) -> str | None:
        return _identifier(v, "tenant_id", "the directory (tenant) id: a GUID or a domain name")

    @field_validator("client_id")
    @classmethod
    def _client(cls, v: str | None) -> str | None:
        return _identifier(v, "client_id", "the application (client) id, usually a GUID")

    @field_validator("authority_host")
    @classmethod
    def _authority_https(cls, v: str) -> str:
        return _https(v, "authority_host")

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/data/v{self.api_version}"


class SyncConfig(Section):
    tables: list[str] = Field(default_factory=lambda: ["lead", "opportunity"], min_length=1)
    mappings_dir: Path | None = None  # default: the mappings/ shipped with seqsync
    page_size: int = Field(default=5000, ge=1, le=5000)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    max_workers: int | None = Field(default=None, ge=1, le=52)
    max_workers_cap: int = Field(default=16, ge=1, le=52)
    disconnect_on_close: bool = True
    cancel_open_activities_on_disconnect: bool = False
    lock_file: Path | None = None  # default: beside the SQLite file, or ./seqsync.lock


class LogConfig(Section):
    format: Literal["auto", "json", "text"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class BusinessHoursConfig(Section):
    enabled: bool = False
    timezone: str = "UTC"
    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=17, ge=1, le=24)
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])  # Monday = 0


class PluginsConfig(Section):
    load: list[str] = Field(default_factory=list)  # "package.module:attribute" import paths
    business_hours: BusinessHoursConfig = Field(default_factory=BusinessHoursConfig)


class PacingConfig(Section):
    """Defaults for every sequence; a sequence file's [pacing] adds its own cap."""

    max_per_owner_per_day: int | None = Field(default=None, ge=1)
    working_hours: bool = False  # plan activities only inside the owner's working hours
    business_days: bool = False  # count every sequence's waits in business days
    timezone: str = "UTC"  # owners whose CRM user settings cannot be read
    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=17, ge=1, le=24)
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    read_user_settings: bool = True  # read owners' time zones from usersettingscollection

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as "
                             "'Europe/Paris')") from None
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in v):
            raise ValueError("use 0 (Monday) to 6 (Sunday)")
        return v


class EngineConfig(Section):
    user: str = Field(default="seqsync", description="initiating user recorded on operations")


class DisplayConfig(Section):
    timezone: str = Field(default="UTC", description="IANA time zone for times shown to people")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Europe/Paris or UTC)"
            ) from None
        return v.strip()


class WebConfig(Section):
    """The web console (`seqsync web`): where it listens and how people sign in (Entra ID)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # The address people type; the sign-in redirect URI is public_url + "/auth/callback".
    public_url: str | None = None
    # The app registration people sign in to; unset keys fall back to [crm].
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    authority_host: str | None = None
    ca_bundle: Path | None = None
    manager_role: str = "Sequence.Manager"
    viewer_role: str = "Sequence.Viewer"
    session_minutes: int = Field(default=480, ge=5, le=10080)
    # Secure cookies need https (browsers make an exception for 127.0.0.1 and localhost).
    secure_cookies: bool = True

    _secret_env = field_validator("client_secret_env")(_env_name)

    @field_validator("public_url")
    @classmethod
    def _public(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"public_url must be an http(s):// URL (got {v!r})")
        return v.rstrip("/")

    @field_validator("authority_host")
    @classmethod
    def _authority(cls, v: str | None) -> str | None:
        return None if v is None else _https(v, "authority_host")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SEQSYNC_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    state: StateConfig = Field(default_factory=StateConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    crm: CrmConfig = Field(default_factory=CrmConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    display: DisplayConfig = Field(default_factory=DisplayConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    pacing: PacingConfig = Field(default_factory=PacingConfig)

    # Set by load_settings; not a configuration key.
    _source: str = PrivateAttr(default="defaults")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file's content arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    @property
    def source(self) -> str:
        return self._source

    def resolve_paths(self, base: Path) -> None:
        """Relative paths (state, token cache, CA, certificate, mappings, lock file) mean
        relative to the config file, not to wherever cron or systemd happened to start us."""
        crm, sync = self.crm, self.sync
        crm.token_cache = _under(base, crm.token_cache)
        crm.ca_bundle = _under(base, crm.ca_bundle)
        crm.certificate_path = _under(base, crm.certificate_path)
        self.web.ca_bundle = _under(base, self.web.ca_bundle)
        sync.mappings_dir = _under(base, sync.mappings_dir)
        sync.lock_file = _under(base, sync.lock_file)
        self.state.url = sqlite_url_under(base, self.state.url)
        if sync.lock_file is None and not SQLITE_URL.match(self.state.url):
            sync.lock_file = base / "seqsync.lock"  # not in whatever folder cron starts in


def _under(base: Path, path: Path | None) -> Any:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else base / path


# Every SQLite URL form: `sqlite:///`, `sqlite+pysqlite:///`, ...
SQLITE_URL = re.compile(r"^sqlite(\+\w+)?:///")


def sqlite_url_under(base: Path, url: str) -> str:
    """`sqlite:///state.db` -> `sqlite:////abs/folder/state.db` (any driver form, such as
    `sqlite+pysqlite:///`); other URLs unchanged."""
    match = SQLITE_URL.match(url)
    if match is None:
        return url
    prefix = match.group(0)
    rest = url.removeprefix(prefix)
    if rest == ":memory:":
        return url
    path, sep, query = rest.partition("?")
    if not path or path.startswith("/") or path.startswith("file:"):
        return url
    return prefix + str(_under(base, Path(path))) + sep + query


def resolve_path(explicit: str | Path | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_FILE_VAR)
    if env:
        return Path(env)
    default = Path(DEFAULT_FILE)
    return default if default.exists() else None


def _describe(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    loc = [printable(str(p)) for p in err["loc"]]
    if len(loc) >= 2:
        key = f"[{loc[0]}] {'.'.join(loc[1:])}"
    elif loc:
        key = loc[0]
    else:
        key = "(top level)"
    env_name = "SEQSYNC_" + "__".join(p.upper() for p in loc) if loc else ""
    if err["type"] == "extra_forbidden":
        what = "unknown key"
    else:
        what = err["msg"].removeprefix("Value error, ")
    hint = f" (or environment variable {env_name})" if env_name else ""
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{origin}: {key}{hint}: {what}{more}"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, merge and validate the configuration, or raise ConfigError naming file and key."""
    file = resolve_path(path)
    data = read_toml(file, "config", ConfigError) if file else {}
    origin = str(file) if file else "configuration"
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    settings._source = origin
    if file is not None:
        settings.resolve_paths(file.resolve().parent)
    return settings
