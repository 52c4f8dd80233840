"""Settings, read once from the environment (and `.env`) in the composition root, then passed
down as plain values. Names follow the platforms' own env vars plus VIDEO_API_* and VIDEOBOT_*."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bot import dburl
from bot.access import AccessPolicy
from bot.callbacks import CallbackSettings, positive_seconds, secret_problem
from bot.callbacks import env as _env
from bot.policy import WorkerPolicy
from bot.pricing import PriceTable
from bot.provider_settings import ProviderSettings
from bot.shard_settings import ShardSettings
from bot.spend_settings import SpendSettings
from bot.storage_settings import StorageSettings

# Providers whose submit carries no callback URL, and those that call only https back.
NO_CALLBACK_URL = frozenset({"apimart"})
HTTPS_ONLY = frozenset({"evolink"})
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
IntList = Annotated[tuple[int, ...], NoDecode]
Words = Annotated[tuple[str, ...], NoDecode]
Names = Annotated[frozenset[str], NoDecode]


class Settings(
    StorageSettings, ProviderSettings, CallbackSettings, ShardSettings, SpendSettings
):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    # -- the engine --------------------------------------------------------------------------
    output_dir: Path = Field(Path("videobot-output"), validation_alias=_env("VIDEOBOT_OUTPUT_DIR"))
    concurrency: int = Field(64, ge=1, validation_alias=_env("VIDEOBOT_CONCURRENCY"))
    provider_concurrency: int | None = Field(
        None, ge=1, validation_alias=_env("VIDEOBOT_PROVIDER_CONCURRENCY")
    )
    task_deadline: timedelta = Field(
        timedelta(hours=1), validation_alias=_env("VIDEOBOT_TASK_DEADLINE")
    )
    first_poll: timedelta = Field(
        timedelta(seconds=5), validation_alias=_env("VIDEOBOT_FIRST_POLL")
    )
    poll_floor: timedelta = Field(
        timedelta(seconds=1), validation_alias=_env("VIDEOBOT_POLL_FLOOR")
    )
    poll_ceiling: timedelta = Field(
        timedelta(seconds=15), validation_alias=_env("VIDEOBOT_POLL_CEILING")
    )
    status_interval: timedelta = Field(
        timedelta(seconds=3), validation_alias=_env("VIDEOBOT_STATUS_INTERVAL")
    )
    max_video_mb: int = Field(200, ge=1, validation_alias=_env("VIDEOBOT_MAX_VIDEO_MB"))
    # Tests and a simulator on this machine only: lets the fetcher reach loopback over http.
    fetch_allow_loopback: bool = Field(
        False, validation_alias=_env("VIDEOBOT_FETCH_ALLOW_LOOPBACK")
    )
    log_level: str = Field("INFO", validation_alias=_env("VIDEOBOT_LOG_LEVEL"))
    log_format: Literal["human", "json"] = Field(
        "human", validation_alias=_env("VIDEOBOT_LOG_FORMAT")
    )
    demo_render_seconds: float = Field(
        6.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        validation_alias=_env("VIDEOBOT_DEMO_RENDER_SECONDS"),
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, validation_alias=_env("VIDEOBOT_METRICS_PORT")
    )
    metrics_host: str = Field("127.0.0.1", validation_alias=_env("VIDEOBOT_METRICS_HOST"))

    # -- access and quotas --------------------------------------------------------------
    daily_limit: int | None = Field(None, ge=1, validation_alias=_env("VIDEOBOT_DAILY_LIMIT"))
    user_concurrency: int | None = Field(
        None, ge=1, validation_alias=_env("VIDEOBOT_USER_CONCURRENCY")
    )
    allowed_workspaces: Names = Field(
        frozenset(), validation_alias=_env("VIDEOBOT_ALLOWED_WORKSPACES")
    )
    allowed_channels: Names = Field(frozenset(), validation_alias=_env("VIDEOBOT_ALLOWED_CHANNELS"))
    allowed_users: Names = Field(frozenset(), validation_alias=_env("VIDEOBOT_ALLOWED_USERS"))
    admins: Names = Field(frozenset(), validation_alias=_env("VIDEOBOT_ADMINS"))

    # -- chat platforms ----------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))
    # Distribution to other workspaces (OAuth v2): set both, and no SLACK_BOT_TOKEN is needed.
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )
    slack_scopes: Words = Field((), validation_alias=_env("SLACK_SCOPES"))
    slack_redirect_uri: str | None = Field(None, validation_alias=_env("SLACK_REDIRECT_URI"))
    slack_port: int = Field(3000, ge=0, le=65535, validation_alias=_env("SLACK_PORT"))
    slack_host: str = Field("0.0.0.0", validation_alias=_env("SLACK_HOST"))  # noqa: S104
    discord_token: SecretStr | None = Field(None, validation_alias=_env("DISCORD_TOKEN"))
    discord_api_url: str | None = Field(None, validation_alias=_env("DISCORD_API_URL"))
    discord_gateway_url: str | None = Field(None, validation_alias=_env("DISCORD_GATEWAY_URL"))
    discord_guild_id: int | None = Field(None, validation_alias=_env("DISCORD_GUILD_ID"))

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LEVELS:
            raise ValueError(f"give one of {', '.join(_LEVELS)} (not {value!r})")
        return level

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Values that are each fine but cannot work together are refused at start, not at
        the first command."""
        profile = self.profile()
        if profile.default_duration not in profile.durations:
            raise ValueError(
                f"VIDEOBOT_DEFAULT_DURATION {profile.default_duration} is not one of the "
                f"durations {', '.join(map(str, profile.durations))} (VIDEOBOT_DURATIONS)"
            )
        self._callbacks_can_work()
        if (self.slack_client_id is None) != (self.slack_client_secret is None):
            raise ValueError(
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together (Basic Information > App "
                "Credentials): set both to let other workspaces install videobot, or neither"
            )
        if self.poll_floor > self.poll_ceiling:
            raise ValueError(
                f"VIDEOBOT_POLL_FLOOR ({self.poll_floor.total_seconds():g}s) is above "
                f"VIDEOBOT_POLL_CEILING ({self.poll_ceiling.total_seconds():g}s)"
            )
        return self

    @field_validator(
        "task_deadline",
        "first_poll",
        "poll_floor",
        "poll_ceiling",
        "status_interval",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        return positive_seconds(value)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_is_off(cls, value: object) -> object:
        # `VIDEOBOT_METRICS_PORT=` in an env file means "no metrics", not a validation error.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_scopes", mode="before")
    @classmethod
    def _scopes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "allowed_workspaces", "allowed_channels", "allowed_users", "admins", mode="before"
    )
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def slack_oauth(self) -> bool:
        """Any workspace may install the Slack app (SLACK_CLIENT_ID and _SECRET are set)."""
        return self.slack_client_id is not None and self.slack_client_secret is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None or self.slack_oauth

    def secret_values(self) -> list[str]:
        """Every secret that is set, for the log filter to redact wherever it turns up."""
        tokens = (
            self.video_api_key,
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.slack_client_secret,
            self.discord_token,
            self.callback_secret,
        )
        secrets = [token.get_secret_value() for token in tokens if token is not None]
        if self.database_url is not None and (
            word := dburl.password(self.database_url.get_secret_value())
        ):
            secrets.append(word)
        return secrets

    def _callbacks_can_work(self) -> None:
        """Callbacks on that no provider call could ever reach would hold every task to the
        slow safety-net poll: refused at start, each with the setting to change."""
        kind = self.callback_kind
        if kind is None:
            return
        if self.provider in NO_CALLBACK_URL:
            raise ValueError(
                f"VIDEOBOT_CALLBACKS: {self.provider} takes no callback URL, so no callback "
                "would come; unset VIDEOBOT_CALLBACK_URL (or VIDEOBOT_CALLBACKS=off)"
            )
        if self.callback_port is None and self.metrics_port is None:
            raise ValueError(
                "VIDEOBOT_CALLBACK_PORT: callbacks are on (VIDEOBOT_CALLBACK_URL) but nothing "
                "would serve them; set it (or VIDEOBOT_METRICS_PORT) and route the URL there"
            )
        if self.provider in HTTPS_ONLY and not str(self.callback_url).startswith("https://"):
            raise ValueError(f"VIDEOBOT_CALLBACK_URL: {self.provider} calls only https URLs back")
        secret = self.callback_secret.get_secret_value() if self.callback_secret else None
        if secret is not None and kind in ("standard", "google") and secret_problem(secret):
            raise ValueError(f"VIDEOBOT_CALLBACK_SECRET {secret_problem(secret)}")

    @property
    def callback_kind(self) -> str | None:
        """How the provider's callbacks are signed, when callbacks are on: a public
        VIDEOBOT_CALLBACK_URL and a provider that calls back (or VIDEOBOT_CALLBACKS)."""
        kind = self.callbacks or self.provider_profile.callbacks
        return None if not self.callback_url or kind in (None, "off") else kind

    @property
    def callback_endpoint(self) -> str | None:
        """The URL the provider is given: `<VIDEOBOT_CALLBACK_URL>/callbacks/<provider>`."""
        if self.callback_kind is None or self.callback_url is None:
            return None
        return f"{self.callback_url}/callbacks/{self.provider}"

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(
            daily_limit=self.daily_limit,
            user_concurrency=self.user_concurrency,
            allowed_workspaces=self.allowed_workspaces,
            allowed_channels=self.allowed_channels,
            allowed_users=self.allowed_users,
            admins=self.admins,
        )

    def worker_policy(self) -> WorkerPolicy:
        return WorkerPolicy(
            concurrency=self.concurrency,
            provider_concurrency=self.provider_concurrency,
            task_deadline=self.task_deadline,
            first_poll=self.first_poll,
            poll_floor=self.poll_floor,
            poll_ceiling=self.poll_ceiling,
            status_interval=self.status_interval,
            max_video_bytes=self.max_video_mb * 1024 * 1024,
            callback_poll=self.callback_poll if self.callback_kind else None,
            prices=self.prices_in_force,
            default_resolution=self.profile().default_resolution,
            lease=self.lease,
        )

    @property
    def prices_in_force(self) -> PriceTable:
        """The provider profile's price table with VIDEOBOT_PRICES / VIDEOBOT_PRICE_UNIT."""
        return self.price_table(self.provider_profile.prices)
