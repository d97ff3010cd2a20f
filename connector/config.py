"""Configuration: `seqsync.toml` plus `SEQSYNC_<SECTION>__<KEY>` environment overrides.

Where the file comes from, in order: `--config PATH`, `$SEQSYNC_CONFIG`, `./seqsync.toml`. No file
at all is fine (every key has a default) until a command needs `[crm]`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

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


def _https(value: str, key: str) -> str:
    if not value.lower().startswith("https://"):
        raise ValueError(f"{key} must be an https:// URL (got {value!r})")
    return value.rstrip("/")


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

    @field_validator("client_secret_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        # Never echo the value: people paste the secret itself here by mistake.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError(
                "must be the NAME of an environment variable (letters, digits, _) that holds "
                "the secret, not the secret itself"
            )
        return v

    @field_validator("url")
    @classmethod
    def _url_https(cls, v: str | None) -> str | None:
        return None if v is None else _https(v, "url")

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


class EngineConfig(Section):
    user: str = Field(default="seqsync", description="initiating user recorded on operations")


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
    return settings
