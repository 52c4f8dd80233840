"""The provider half of the settings (a part of `bot.config.Settings`): which provider, its
address and key, and every override of its profile (bot/providers.py), with the profile they
make together."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.callbacks import env as _env
from bot.domain import Mode, Profile
from bot.providers import PROVIDERS, ProviderProfile

IntList = Annotated[tuple[int, ...], NoDecode]
Words = Annotated[tuple[str, ...], NoDecode]


class ProviderSettings(BaseSettings):
    video_api_url: str | None = Field(None, validation_alias=_env("VIDEO_API_URL"))
    video_api_key: SecretStr | None = Field(None, validation_alias=_env("VIDEO_API_KEY"))
    # Which provider (bot/providers.py); VIDEOBOT_DIALECT is its older name.
    provider: str = Field(
        "guide",
        validation_alias=AliasChoices(
            "VIDEOBOT_PROVIDER", "videobot_provider", "VIDEOBOT_DIALECT", "videobot_dialect"
        ),
    )
    # Each of these overrides the provider profile's value; unset, the profile's holds.
    model: str | None = Field(None, validation_alias=_env("VIDEOBOT_MODEL"))
    durations: IntList | None = Field(None, validation_alias=_env("VIDEOBOT_DURATIONS"))
    default_duration: int | None = Field(
        None, ge=1, validation_alias=_env("VIDEOBOT_DEFAULT_DURATION")
    )
    resolutions: Words | None = Field(None, validation_alias=_env("VIDEOBOT_RESOLUTIONS"))
    resolution: str | None = Field(None, validation_alias=_env("VIDEOBOT_RESOLUTION"))
    max_reference_images: int | None = Field(
        None, ge=0, validation_alias=_env("VIDEOBOT_MAX_REFERENCE_IMAGES")
    )
    image_counts: IntList | None = Field(None, validation_alias=_env("VIDEOBOT_IMAGE_COUNTS"))
    aspect_ratios: Words | None = Field(None, validation_alias=_env("VIDEOBOT_ASPECT_RATIOS"))
    modes: Words | None = Field(None, validation_alias=_env("VIDEOBOT_MODES"))
    # How the key is sent and how media travels, when a gateway differs from its profile.
    auth: Literal["bearer", "x-goog-api-key", "key"] | None = Field(
        None, validation_alias=_env("VIDEOBOT_AUTH")
    )
    media: Literal["upload", "inline", "data-uri"] | None = Field(
        None, validation_alias=_env("VIDEOBOT_MEDIA")
    )
    prompt_max_chars: int = Field(
        2000, ge=1, le=100_000, validation_alias=_env("VIDEOBOT_PROMPT_MAX_CHARS")
    )
    idempotency_header: str | None = Field(
        None, validation_alias=_env("VIDEOBOT_IDEMPOTENCY_HEADER")
    )
    upload_path: str = Field("/v1/uploads/images", validation_alias=_env("VIDEOBOT_UPLOAD_PATH"))
    http_timeout: float = Field(
        30.0, gt=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_HTTP_TIMEOUT")
    )
    provider_timeout: float = Field(
        60.0, gt=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_PROVIDER_TIMEOUT")
    )
    retry_base_seconds: float = Field(
        0.5, ge=0, le=60, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_RETRY_BASE_SECONDS")
    )
    # Vertex AI: a service account's JSON key (Google's own variable name) instead of a key.
    google_application_credentials: Path | None = Field(
        None, validation_alias=_env("GOOGLE_APPLICATION_CREDENTIALS")
    )
    vertex_project: str | None = Field(None, validation_alias=_env("VIDEOBOT_VERTEX_PROJECT"))
    vertex_location: str = Field(
        "global", pattern=r"^[a-z0-9-]+$", validation_alias=_env("VIDEOBOT_VERTEX_LOCATION")
    )

    @field_validator("provider", mode="before")
    @classmethod
    def _provider(cls, value: object) -> object:
        name = str(value).strip().lower()
        if name not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; choose one of {', '.join(PROVIDERS)}")
        return name

    @field_validator("aspect_ratios")
    @classmethod
    def _ratios(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or set(value) - {"16:9", "9:16"}):
            raise ValueError("give 16:9, 9:16 or both, separated by a comma")
        return value

    @field_validator("modes")
    @classmethod
    def _modes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or set(value) - {m.value for m in Mode}):
            raise ValueError("give some of t2v, i2v, r2v, edit, separated by commas")
        return value

    @field_validator("auth", "media", mode="before")
    @classmethod
    def _blank_is_profile(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @property
    def auth_scheme(self) -> str:
        """How the key is sent: VIDEOBOT_AUTH, or the provider profile's way."""
        return self.auth or self.provider_profile.auth

    @property
    def media_passing(self) -> str:
        """How media reaches the provider: VIDEOBOT_MEDIA, or the provider profile's way."""
        return self.media or self.provider_profile.media

    @field_validator("resolutions", "aspect_ratios", "modes", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("resolution", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @field_validator("durations", "image_counts", mode="before")
    @classmethod
    def _int_list(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(" ", "").split(",") if p]
            if not parts or not all(p.isdigit() for p in parts):
                raise ValueError(
                    f"give whole numbers separated by commas, e.g. 6,10 (not {value!r})"
                )
            return tuple(int(p) for p in parts)
        return value

    @field_validator("durations")
    @classmethod
    def _positive_durations(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or min(value) < 1):
            raise ValueError("give durations of 1 second or more, e.g. 6,10")
        return value

    @field_validator("video_api_url")
    @classmethod
    def _api_root(cls, value: str | None) -> str | None:
        # Never quote the value back: a URL with a password in it is itself the secret.
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give the gateway's http(s) root, e.g. https://gateway.example")
        if parts.username or parts.password:
            raise ValueError(
                "has a user name or password in it: remove it and put the key in VIDEO_API_KEY"
            )
        if parts.query or parts.fragment:
            # A query is where keys hide (?api_key=...): it would be logged and shown.
            raise ValueError(
                "has a query (?...) or fragment (#...): give the API root only, and the key "
                "in VIDEO_API_KEY"
            )
        return value.strip()

    @property
    def provider_profile(self) -> ProviderProfile:
        return PROVIDERS[self.provider]

    @property
    def dialect(self) -> str:
        return self.provider_profile.dialect

    @property
    def api_root(self) -> str | None:
        """VIDEO_API_URL, or the provider's own address when it has one (Vertex AI's outside
        the `global` location is regional: https://us-central1-aiplatform.googleapis.com)."""
        if self.video_api_url:
            return self.video_api_url
        if self.provider == "vertex" and self.vertex_location != "global":
            return f"https://{self.vertex_location}-aiplatform.googleapis.com"
        return self.provider_profile.base_url

    @property
    def model_id(self) -> str:
        return self.model or self.provider_profile.model

    def profile(self) -> Profile:
        """The provider profile's allowances with every override set in the environment."""
        allows = self.provider_profile.allows
        durations = self.durations or allows.durations
        default_duration = self.default_duration or (
            allows.default_duration if allows.default_duration in durations else durations[0]
        )
        resolutions = self.resolutions or allows.resolutions
        resolution = self.resolution or (
            allows.default_resolution
            if allows.default_resolution in resolutions
            else resolutions[0]
        )
        if resolution not in resolutions:
            resolutions = (*resolutions, resolution)
        return replace(
            allows,
            durations=durations,
            default_duration=default_duration,
            resolutions=resolutions,
            default_resolution=resolution,
            max_reference_images=allows.max_reference_images
            if self.max_reference_images is None
            else self.max_reference_images,  # 0 is a setting (no references), not "unset"
            image_counts=allows.image_counts if self.image_counts is None else self.image_counts,
            prompt_max_chars=self.prompt_max_chars,
            aspect_ratios=self.aspect_ratios or allows.aspect_ratios,
            default_aspect_ratio=_first_of(allows.default_aspect_ratio, self.aspect_ratios),
            modes=frozenset(Mode(m) for m in self.modes) if self.modes else allows.modes,
        )


def _first_of(default: str, allowed: tuple[str, ...] | None) -> str:
    """The profile's default, unless the override leaves it out (then the override's first)."""
    return default if not allowed or default in allowed else allowed[0]
