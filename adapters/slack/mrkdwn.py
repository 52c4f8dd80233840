"""Text for Slack: `&`, `<` and `>` are control characters in every message text (mentions,
`<!channel>`, links), so text that did not come from us is escaped (Slack's formatting
reference, "Escaping text"); clipping counts the escaped form and never cuts an entity."""

from __future__ import annotations

import re

ELLIPSIS = "…"
MESSAGE_TEXT = 40_000  # a message's `text`: Slack truncates anything longer
# The one live sequence videobot writes itself: the requester's mention (ReplyTarget.user_name).
_MENTION = re.compile(r"<@[A-Z0-9]+>")


def escape(text: str) -> str:
    """Only these three: Slack decodes no other entity, so `&#39;` would show as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What the user typed: Slack escapes `&`, `<` and `>` in the message and command text it
    sends us (live mentions and links stay `<...>`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def inert(text: str, limit: int) -> str:
    """`text` escaped, at most `limit` characters once escaped; a cut ends in an ellipsis and
    falls between two escaped characters, never inside `&amp;`."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    kept: list[str] = []
    size = 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit - len(ELLIPSIS):
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept).rstrip() + ELLIPSIS


def inert_but_mention(text: str, mention: str | None, limit: int) -> str:
    """Like `inert`, except the requester's mention the core put at the very start or the very
    end of `text` (the summary ends "requested by <@U...>", the caption starts with it) stays
    live. The same mention typed inside a prompt sits between the two and is escaped."""
    if not mention or not _MENTION.fullmatch(mention) or len(mention) >= limit:
        return inert(text, limit)
    room = limit - len(mention)
    if text.endswith(mention):
        return inert(text[: -len(mention)], room) + mention
    if text.startswith(mention):
        return mention + inert(text[len(mention) :], room)
    return inert(text, limit)
