"""Every place the model is sold, as data: one provider profile each (which wire format it
speaks, where, with which model id and key, and what it allows). A setting overrides any value;
nothing else in the code knows a provider's limits. Facts from ../shared/UPSTREAM.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.domain import Profile
from bot.pricing import CREDITS, PriceTable, micros

Auth = Literal["bearer", "x-goog-api-key", "key", "oauth"]
Media = Literal["upload", "inline", "data-uri"]
# How a provider signs its callbacks; `standard` (Standard Webhooks HMAC) is for a gateway that
# takes a `callback_url` in its submit, chosen by setting (no profile here has it).
Callbacks = Literal["google", "evolink", "fal", "standard"]

GOOGLE_RESOLUTIONS = ("360p", "720p", "1080p", "4k")


_RATE_NAMES = {"p360": "360p", "p720": "720p", "p1080": "1080p", "k4": "4k"}


def per_second(unit: str = "USD", **rates: str) -> PriceTable:
    """A price table from per-second rates by resolution (`p720="0.10"`, `k4=` for 4k)."""
    return PriceTable(
        unit=unit,
        per_second=tuple((_RATE_NAMES[name], micros(rate)) for name, rate in rates.items()),
    )


# Google counts output video tokens per second of video by resolution: 5,792 at 720p
# (UPSTREAM.md); the others are taken in proportion to their pixels (1280x720 = 5,792), the
# figure Google publishes for 720p being the one fixed point. A task's reported tokens are
# priced at its resolution's per-second rate, so a 4k second costs the 4k price, not 720p's.
GOOGLE_TOKENS_PER_SECOND = (("360p", 1448), ("720p", 5792), ("1080p", 13032), ("4k", 52128))

# List prices as published in late 2026 (UPSTREAM.md): gateways about $0.10-0.15 per second of
# 720p; Google about $0.10/s at 720p ($17.27 per million tokens) and several times that at 4k.
# Contracts differ: VIDEOBOT_PRICES overrides.
GATEWAY_PRICES = per_second(p720="0.12")
GOOGLE_PRICES = PriceTable(
    per_second=per_second(p360="0.05", p720="0.10", p1080="0.20", k4="0.40").per_second,
    tokens_per_second=GOOGLE_TOKENS_PER_SECOND,
)


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """`dialect` names the wire mapping (adapters/provider/dialects); `media` says how a user's
    image or clip reaches the provider: `upload` re-hosts it on the gateway's upload endpoint and
    sends the URL, `inline` sends small images as base64 in the request (bigger ones and clips
    through the provider's Files API), `data-uri` sends a `data:` URL."""

    name: str
    title: str
    dialect: str
    base_url: str | None  # None: the operator must give VIDEO_API_URL
    model: str
    allows: Profile
    auth: Auth = "bearer"
    media: Media = "upload"
    callbacks: Callbacks | None = None
    key_hint: str = "the gateway's API key"
    prices: PriceTable = PriceTable()


PROVIDERS: dict[str, ProviderProfile] = {
    "guide": ProviderProfile(
        name="guide",
        prices=GATEWAY_PRICES,
        title="the model guide's gateway",
        dialect="guide",
        base_url=None,
        model="gemini_omni_flash",
        allows=Profile(durations=(6, 10), default_duration=6, provider="the video service"),
    ),
    "toapis": ProviderProfile(
        name="toapis",
        prices=GATEWAY_PRICES,
        title="the vendor's OpenAI-like API",
        dialect="toapis",
        base_url=None,
        model="gemini_omni_flash",
        allows=Profile(
            durations=(6, 10),
            default_duration=6,
            image_counts=(0, 1, 3),
            provider="the video service",
        ),
    ),
    "google": ProviderProfile(
        name="google",
        prices=GOOGLE_PRICES,
        title="Google Gemini API",
        dialect="google",
        base_url="https://generativelanguage.googleapis.com",
        model="gemini-omni-1.1-flash",
        allows=Profile(
            durations=(4, 6, 8, 10),
            default_duration=8,
            resolutions=GOOGLE_RESOLUTIONS,
            max_reference_images=10,
            provider="Google Gemini API",
            edit_keeps_clip=True,
        ),
        auth="x-goog-api-key",
        media="inline",
        callbacks="google",
        key_hint="a Gemini API key from Google AI Studio",
    ),
    "vertex": ProviderProfile(
        name="vertex",
        prices=GOOGLE_PRICES,
        title="Google Vertex AI",
        dialect="vertex",
        base_url="https://aiplatform.googleapis.com",
        model="gemini-omni-1.2-flash",
        allows=Profile(
            durations=tuple(range(3, 16)),
            default_duration=8,
            resolutions=GOOGLE_RESOLUTIONS,
            max_reference_images=10,
            provider="Google Vertex AI",
            edit_keeps_clip=True,
        ),
        auth="oauth",
        media="inline",
        callbacks="google",
        key_hint="a service account JSON key (GOOGLE_APPLICATION_CREDENTIALS) and a project",
    ),
    # docs.apimart.ai "Gemini Omni Flash Video Generation": model gemini-omni-flash-preview,
    # 720p only, 3-10 s, 16:9 or 9:16, image_urls up to 16 (http(s) only: images go through
    # its /v1/uploads/images, URLs kept 72 h), video_urls at most 1 (a link or a data: URL).
    "apimart": ProviderProfile(
        name="apimart",
        prices=per_second(p720="0.10"),
        title="apimart",
        dialect="apimart",
        base_url="https://api.apimart.ai",
        model="gemini-omni-flash-preview",
        allows=Profile(
            durations=tuple(range(3, 11)),
            default_duration=8,
            max_reference_images=16,
            provider="apimart",
        ),
        media="upload",
        key_hint="an apimart API key (Bearer)",
    ),
    # docs.evolink.ai "Gemini Omni Flash" pages: one model id per mode (the dialect appends
    # -text-to-video, -image-to-video, -reference-to-video, -video-edit to this family), 3-10 s
    # (or auto; its own default is 10), image-to-video 1 image, reference 1-6, images as data:
    # URLs, a clip only as an http(s) link, callback_url on submit; links live 24 h.
    "evolink": ProviderProfile(
        name="evolink",
        prices=per_second(CREDITS, p720="10.2"),
        title="evolink",
        dialect="evolink",
        base_url="https://api.evolink.ai",
        model="gemini-omni-flash",
        allows=Profile(
            durations=tuple(range(3, 11)),
            default_duration=8,
            max_reference_images=6,
            provider="evolink",
            clip_uploads=False,
            edit_keeps_clip=True,
        ),
        media="data-uri",
        callbacks="evolink",
        key_hint="an evolink API key (Bearer)",
    ),
    # fal.ai/models/google/gemini-omni-flash (+ /image-to-video, /reference-to-video, /edit):
    # 3-10 s (default 8), 16:9 or 9:16, 720p; files as URLs or data: URLs; queue.fal.run with
    # `Authorization: Key`. fal gives no image limit for reference-to-video: Google's 10 holds.
    "fal": ProviderProfile(
        name="fal",
        prices=per_second(p720="0.15"),
        title="fal",
        dialect="fal",
        base_url="https://queue.fal.run",
        model="google/gemini-omni-flash",
        allows=Profile(
            durations=tuple(range(3, 11)),
            default_duration=8,
            max_reference_images=10,
            provider="fal",
        ),
        auth="key",
        media="data-uri",
        callbacks="fal",
        key_hint="a fal API key (FAL_KEY)",
    ),
}
