"""Where the ledger and media live: the SQLite file under the data folder, or PostgreSQL for many
processes; how long a worker holds a claimed task; how long users' media are kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from bot import dburl
from bot.callbacks import env as _env
from bot.callbacks import positive_seconds

MIN_LEASE, MAX_LEASE = timedelta(seconds=1), timedelta(hours=1)


class StorageSettings(BaseSettings):
    data_dir: Path = Field(Path("videobot-data"), validation_alias=_env("VIDEOBOT_DATA_DIR"))
    db_path: Path | None = Field(None, validation_alias=_env("VIDEOBOT_DB"))
    # Set: the PostgreSQL ledger (many processes, many machines); unset: the SQLite file.
    database_url: SecretStr | None = Field(None, validation_alias=_env("VIDEOBOT_DATABASE_URL"))
    lease: timedelta = Field(timedelta(seconds=60), validation_alias=_env("VIDEOBOT_LEASE"))
    media_retention: timedelta = Field(
        timedelta(hours=24), validation_alias=_env("VIDEOBOT_MEDIA_RETENTION")
    )

    @field_validator("media_retention", "lease", mode="before")
    @classmethod
    def _storage_seconds(cls, value: object) -> object:
        return positive_seconds(value)

    @field_validator("lease")
    @classmethod
    def _lease_in_range(cls, value: timedelta) -> timedelta:
        # Shorter than a provider's answer and steps lose their rows while they run; longer
        # than an hour and a dead worker's tasks wait that long before another takes them.
        if not MIN_LEASE <= value <= MAX_LEASE:
            raise ValueError("give a lease from 1 to 3600 seconds")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("give a postgresql://user@host:5432/dbname URL, or leave it unset")
        if (why := dburl.problem(value.get_secret_value())) is not None:
            raise ValueError(f"{dburl.redacted(value.get_secret_value())}: {why}")
        return value

    @property
    def ledger_path(self) -> Path:
        return self.db_path or self.data_dir / "videobot.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
