"""Vertex AI: the same Interactions API under a project and a location, with an OAuth access
token (vertex_auth.py) instead of a key. Vertex has no Files API: images and clips travel
inline while they are small enough, and a bigger one is refused before anything is paid."""

from __future__ import annotations

from adapters.provider.dialects.base import Wire, inline_ref, task_segment
from adapters.provider.dialects.google import GoogleDialect
from bot.domain import MediaRef
from bot.errors import ProviderRejected

# Vertex AI takes inline media up to 7 MB each (20 MB per request, checked at submit).
INLINE_MAX = 7 * 1000 * 1000


class VertexDialect(GoogleDialect):
    name = "vertex"
    title = "Vertex AI"
    delivery = None  # inline, the default: a link would be a Cloud Storage object to sign for

    def __init__(self, project: str = "", location: str = "global") -> None:
        super().__init__()
        self.project = project
        self.location = location

    def located(self, project: str, location: str) -> VertexDialect:
        """This dialect for one project and location (the settings name them)."""
        return VertexDialect(project, location)

    def collection(self) -> str:
        if not self.project:
            raise ProviderRejected(
                "no Vertex AI project is set (VIDEOBOT_VERTEX_PROJECT, or project_id in the "
                "key file)",
                code="misconfigured",
            )
        return f"/v1beta1/projects/{self.project}/locations/{self.location}/interactions"

    def poll_path(self, provider_task_id: str) -> str:
        # Vertex may name an interaction by its whole resource name; both readings work.
        if provider_task_id.startswith("projects/") and ".." not in provider_task_id:
            return f"/v1beta1/{provider_task_id}"
        return f"{self.collection()}/{task_segment(provider_task_id)}"

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        if 0 < media.size <= INLINE_MAX:
            return inline_ref(media)
        what = "clip" if media.kind == "video" else "image"
        raise ProviderRejected(
            f"Vertex AI takes media only inside the request, up to {INLINE_MAX // 1_000_000} MB "
            f"each; this {what} is {media.size / 1e6:.1f} MB: send a smaller or shorter one",
            code="too_large",
        )
