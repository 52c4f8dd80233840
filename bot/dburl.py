"""Database URLs as operators write them: the password found, hidden and checked without
trusting a URL parser (a `#`, `?`, `/` or `@` in a password makes urlsplit read it as a
fragment, a query, a path or a host, and then print it back as one)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

# A password holding one of these must be percent-encoded for the database driver to read it.
_RESERVED = "@/#?"


def credentials(url: str) -> tuple[str, str | None, str]:
    """(`scheme://user`, the password as written or None, `@host...`): the user information
    ends at the last `@`, so whatever a password holds stays in the password."""
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url, None, ""
    user, colon, password = rest[:at].partition(":")
    return f"{scheme}://{user}", (password if colon else None), rest[at:]


def password(url: str) -> str | None:
    """The password, decoded as the driver decodes it (what a log line may echo), if any."""
    found = credentials(url)[1]
    return unquote(found) if found else None


def redacted(url: str) -> str:
    """`url` with any password replaced by `***`, fit for logs and messages."""
    head, found, tail = credentials(url)
    return f"{head}:***{tail}" if found is not None else url


def problem(url: str) -> str | None:
    """Why the driver could not read `url` as meant, in a sentence naming no secret; None if
    it can."""
    head, found, tail = credentials(url)
    if found is not None and any(c in found for c in _RESERVED):
        return (
            "its password holds one of @ / # ? unencoded; percent-encode them "
            "(%40 %2F %23 %3F) so the password is read as written"
        )
    try:
        parts = urlsplit(f"{head}{':x' if found is not None else ''}{tail}")
        parts.port  # noqa: B018  (reading it checks it: a port out of range raises)
    except ValueError as err:
        return f"it cannot be read ({str(err).split(':')[0].lower()})"
    if not parts.hostname and not parts.path.strip("/"):
        return "it names no host"
    return None
