"""What the chosen provider needs before the first request, from the settings: its dialect (Vertex
AI's placed in its project and location) and, for Vertex AI, the service account's credentials.
A setting that cannot work stops the start with one line naming it."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.provider.auth import Credentials
from adapters.provider.dialects import dialect_for
from adapters.provider.dialects.base import Dialect
from adapters.provider.dialects.vertex import VertexDialect
from adapters.provider.vertex_auth import KeyFileError, ServiceAccountToken
from bot.config import Settings


def provider_auth(settings: Settings) -> tuple[Dialect, Credentials | None]:
    """The dialect and, when the provider's key changes (an OAuth token), its credentials;
    None: VIDEO_API_KEY is sent as the profile says."""
    if settings.provider_profile.auth == "oauth":
        return vertex_setup(settings)
    if not settings.api_root or settings.video_api_key is None:
        raise SystemExit(
            "VIDEO_API_URL and VIDEO_API_KEY must be set (or run `videobot demo`, which starts "
            "the built-in simulator)."
        )
    return dialect_for(settings.dialect, settings.model_id), None


def vertex_setup(settings: Settings) -> tuple[Dialect, ServiceAccountToken]:
    """The Vertex AI dialect placed in its project and location, and its credentials, from
    the settings; stops the start with one line naming the setting to fix."""
    path = settings.google_application_credentials
    if path is None:
        raise SystemExit(
            "GOOGLE_APPLICATION_CREDENTIALS must name the service account's JSON key file "
            "(Vertex AI takes no VIDEO_API_KEY)."
        )
    try:
        credentials = ServiceAccountToken.from_file(path)
    except KeyFileError as err:
        raise SystemExit(f"GOOGLE_APPLICATION_CREDENTIALS: {err}") from None
    project = settings.vertex_project or credentials.project
    if not project:
        raise SystemExit("VIDEOBOT_VERTEX_PROJECT must be set (the key file names no project).")
    return VertexDialect(project, settings.vertex_location), credentials


def vertex_sign_in(settings: Settings) -> ServiceAccountToken | Unusable | None:
    """For `videobot doctor`: the Vertex AI credentials the bot would use; a key file the bot
    would refuse signs in to nothing, with the reason the bot gives (doctor then fails it)."""
    path = settings.google_application_credentials
    if settings.provider_profile.auth != "oauth" or path is None:
        return None
    try:
        return ServiceAccountToken.from_file(path)
    except KeyFileError as err:
        return Unusable(str(err))


class Unusable:
    """Credentials the bot would refuse at start: every sign-in fails with the reason."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    async def headers(self) -> Mapping[str, str]:
        raise KeyFileError(self._reason)
