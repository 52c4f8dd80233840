"""The settings of provider callbacks (a part of `bot.config.Settings`), and the small readers
every setting shares. Callbacks are an accelerator: one only makes its task due for a poll."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

# The providers' published key sets. Sources name two addresses for fal's: both are read.
GOOGLE_JWKS = "https://generativelanguage.googleapis.com/.well-known/jwks.json"
FAL_JWKS = (
    "https://rest.alpha.fal.ai/.well-known/jwks.json",
    "https://rest.fal.ai/.well-known/jwks.json",
)
Kind = Literal["google", "fal", "evolink", "standard", "off"]


def env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


def positive_seconds(value: object) -> timedelta:
    """A setting in plain seconds (`30`, `0.5`); pydantic alone reads a string only as an ISO
    8601 duration."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(str(value).strip())
        except ValueError:
            raise ValueError(f"give a number of seconds, e.g. 30 (not {value!r})") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"give a number of seconds above zero (not {value!r})")
    return timedelta(seconds=seconds)


def _url(value: str) -> str:
    # Never quote the value back: a URL with a password in it is itself a secret.
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise ValueError("give an http(s) URL without a user name, e.g. https://bot.example")
    if parts.query or parts.fragment:  # `/callbacks/<provider>` is appended to it
        raise ValueError("give the URL without a query (?...) or fragment (#...)")
    return value.strip().rstrip("/")


def secret_problem(secret: str) -> str | None:
    """Why a Standard Webhooks secret (`whsec_` + base64) cannot sign anything, or None."""
    body = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error):
        return "is not whsec_ followed by base64 (copy it whole from the provider)"
    return None if key else "is empty after whsec_ (copy it whole from the provider)"


class CallbackSettings(BaseSettings):
    # The public root providers call (`<it>/callbacks/<provider>`); unset, no callbacks.
    callback_url: str | None = Field(None, validation_alias=env("VIDEOBOT_CALLBACK_URL"))
    callback_port: int | None = Field(
        None, ge=0, le=65535, validation_alias=env("VIDEOBOT_CALLBACK_PORT")
    )
    callback_host: str = Field("0.0.0.0", validation_alias=env("VIDEOBOT_CALLBACK_HOST"))  # noqa: S104
    # How the provider signs its callbacks; unset, the provider profile's kind (if any).
    callbacks: Kind | None = Field(None, validation_alias=env("VIDEOBOT_CALLBACKS"))
    callback_secret: SecretStr | None = Field(
        None, validation_alias=env("VIDEOBOT_CALLBACK_SECRET")
    )
    callback_poll: timedelta = Field(
        timedelta(seconds=120), validation_alias=env("VIDEOBOT_CALLBACK_POLL")
    )
    google_jwks_url: str = Field(GOOGLE_JWKS, validation_alias=env("VIDEOBOT_GOOGLE_JWKS_URL"))
    fal_jwks_url: Annotated[tuple[str, ...], NoDecode] = Field(
        FAL_JWKS, validation_alias=env("VIDEOBOT_FAL_JWKS_URL")
    )

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return _url(value) if value and value.strip() else None

    @field_validator("google_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        return _url(value) if value.strip() else GOOGLE_JWKS

    @field_validator("fal_jwks_url", mode="before")
    @classmethod
    def _jwks_urls(cls, value: object) -> object:
        if isinstance(value, str):
            urls = tuple(_url(part) for part in value.split(",") if part.strip())
            return urls or FAL_JWKS
        return value

    @field_validator("callbacks", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        return value.strip().lower() or None if isinstance(value, str) else value

    @field_validator("callback_port", mode="before")
    @classmethod
    def _blank_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("callback_poll", mode="before")
    @classmethod
    def _poll(cls, value: object) -> object:
        return positive_seconds(value)
