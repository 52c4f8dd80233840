"""Discord wire shapes (API v10) for the fake server and the tests: users, messages, channels,
and INTERACTION_CREATE payloads as Discord sends them (the fields discord.py 2.7 reads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

APP_ID = 1_300_000_000_000_000_001
BOT_ID = APP_ID
GUILD_ID = 1_300_000_000_000_000_100
CHANNEL_ID = 1_300_000_000_000_000_200
USER_ID = 1_300_000_000_000_000_300
BOT_TOKEN = "fake-bot-token.not-a-real-secret.0000"
TEN_MIB = 10 * 1024 * 1024

_DISCORD_EPOCH_MS = 1_420_070_400_000
_minted = [0]  # the last id handed out


def snowflake() -> int:
    """A new id, as Discord mints them: the time in its top bits, so ids made later sort
    later (and a message is found `after` a time-based id, as on Discord), never repeated."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    _minted[0] = max(_minted[0] + 1, (now_ms - _DISCORD_EPOCH_MS) << 22)
    return _minted[0]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int = USER_ID, name: str = "ada", bot: bool = False) -> Json:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


BOT_USER = user(BOT_ID, "videobot", bot=True)


def member(user_id: int = USER_ID, name: str = "ada") -> Json:
    return {
        "user": user(user_id, name),
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": "2248473465835073",
        "nick": None,
        "avatar": None,
    }


def text_channel(channel_id: int = CHANNEL_ID, guild_id: int = GUILD_ID) -> Json:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def thread_channel(thread_id: int, parent_id: int, name: str, guild_id: int = GUILD_ID) -> Json:
    return {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "name": name,
        "owner_id": str(BOT_ID),
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": now_iso(),
            "locked": False,
        },
    }


def attachment(url: str, filename: str, size: int, content_type: str) -> Json:
    return {
        "id": str(snowflake()),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }


def message(
    channel_id: int,
    author: Json,
    content: str = "",
    *,
    message_id: int | None = None,
    guild_id: int | None = GUILD_ID,
    **extra: Any,
) -> Json:
    data: Json = {
        "id": str(message_id or snowflake()),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    data.update(extra)
    return data


def guild_create(guild_id: int = GUILD_ID, channel_id: int = CHANNEL_ID, tier: int = 0) -> Json:
    return {
        "id": str(guild_id),
        "name": "videobot test server",
        "icon": None,
        "owner_id": str(USER_ID),
        "premium_tier": tier,
        "features": [],
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": "2248473465835073",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "channels": [text_channel(channel_id, guild_id)],
        "threads": [],
        "members": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "member_count": 2,
        "large": False,
        "unavailable": False,
        "joined_at": "2026-01-01T00:00:00+00:00",
        "system_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
    }


def _interaction(
    itype: int, data: Json, *, channel: Json, guild_id: int | None, size_limit: int, **extra: Any
) -> Json:
    payload: Json = {
        "id": str(snowflake()),
        "application_id": str(APP_ID),
        "type": itype,
        "data": data,
        "channel_id": channel["id"],
        "channel": channel,
        "token": f"interaction-token-{snowflake()}",
        "version": 1,
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id or "0")},
        "context": 0 if guild_id else 1,
        "attachment_size_limit": size_limit,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-US"
        payload["member"] = member()
    else:
        payload["user"] = user()
    payload.update(extra)
    return payload


def slash(
    name: str,
    options: list[Json] | None = None,
    attachments: list[Json] | None = None,
    *,
    channel: Json | None = None,
    size_limit: int = TEN_MIB,
    guild_id: int = GUILD_ID,
) -> Json:
    """A CHAT_INPUT interaction; attachment options refer to `resolved.attachments` by id."""
    data: Json = {"id": str(snowflake()), "name": name, "type": 1, "options": options or []}
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    return _interaction(
        2, data, channel=channel or text_channel(guild_id=guild_id), guild_id=guild_id,
        size_limit=size_limit,
    )  # fmt: skip


def option(name: str, value: Any, otype: int = 3) -> Json:
    return {"name": name, "type": otype, "value": value}


def subcommand(name: str, options: list[Json] | None = None) -> Json:
    return {"name": name, "type": 1, "options": options or []}


def message_command(name: str, target: Json, *, channel: Json | None = None) -> Json:
    data = {
        "id": str(snowflake()),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }
    return _interaction(
        2, data, channel=channel or text_channel(), guild_id=GUILD_ID, size_limit=TEN_MIB
    )


def button_press(
    custom_id: str, on_message: Json, *, channel: Json | None = None, by: Json | None = None
) -> Json:
    """A click on a button of `on_message`, by the default user or the member `by`."""
    data = {"custom_id": custom_id, "component_type": 2}
    return _interaction(
        3,
        data,
        channel=channel or text_channel(),
        guild_id=GUILD_ID,
        size_limit=TEN_MIB,
        message=on_message,
        member=by or member(),
    )


def modal_submit(
    custom_id: str,
    values: dict[str, str],
    *,
    channel: Json | None = None,
    by: Json | None = None,
) -> Json:
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
        for key, value in values.items()
    ]
    data = {"custom_id": custom_id, "components": rows}
    return _interaction(
        5,
        data,
        channel=channel or text_channel(),
        guild_id=GUILD_ID,
        size_limit=TEN_MIB,
        member=by or member(),
    )
