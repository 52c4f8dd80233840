"""The errors a fetch raises: one family under `MediaError`, split by what went wrong (a refused
link, a file too large, an HTTP status, or a network failure worth retrying)."""

from __future__ import annotations

from bot.errors import MediaError


class FetchError(MediaError):
    """A download failed. The text is safe to show a user: it names the host, not the URL
    (query strings of signed URLs are secrets)."""

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class FetchRefused(FetchError):
    """The policy refused the URL or a redirect before anything was sent there."""


class FetchTooLarge(FetchError):
    """The body is (or claims to be) larger than the cap; nothing was kept."""

    def __init__(self, message: str, *, host: str = "", limit: int = 0) -> None:
        super().__init__(message, host=host)
        self.limit = limit


class FetchStatus(FetchError):
    """The server answered with a status other than 200 (after redirects)."""

    def __init__(
        self, message: str, *, host: str = "", status: int, retry_after: str | None = None
    ) -> None:
        super().__init__(message, host=host)
        self.status = status
        self.retry_after = retry_after  # the raw Retry-After header, if any


class FetchUnavailable(FetchError):
    """DNS, connect, TLS, timeout or a broken transfer: trying again later may work."""
