"""Who asked and where, from Discord's objects: the durable ReplyTarget a task answers to,
and the idempotency keys that make a repeated event or a repeated press one task."""

from __future__ import annotations

import discord

from bot.checks import instruction_digest
from bot.domain import DM_WORKSPACE, ReplyTarget

PLATFORM = "discord"
THREAD_TYPES = frozenset(
    {discord.ChannelType.public_thread, discord.ChannelType.private_thread,
     discord.ChannelType.news_thread}
)  # fmt: skip


def interaction_key(interaction: discord.Interaction) -> str:
    """A command: Discord's interaction id, the same when the gateway replays the event."""
    return f"discord:i:{interaction.id}"


def press_key(interaction: discord.Interaction, action: str, ref: str) -> str:
    """A button that starts paid work: one task per button of one status message, whoever
    presses it and however often (each click is a new interaction id). As on Slack, where the
    key is the message ts. Another run is `/videobot retry`, a command of its own."""
    if interaction.message is None:  # a component interaction always carries its message
        return interaction_key(interaction)
    return f"discord:b:{interaction.message.id}:{action}:{ref}"


def edit_key(message_id: int, ref: str, instruction: str) -> str:
    """The Edit form sent from one status message: the same instruction (spacing aside) is
    the same request, a double submit or a second user asking the same; a different
    instruction is a new edit the user means to pay for."""
    return f"discord:e:{message_id}:{ref}:{instruction_digest(instruction)}"


def _target(
    guild_id: int | None,
    channel: object,
    channel_id: int,
    user: discord.User | discord.Member,
) -> ReplyTarget:
    in_thread = getattr(channel, "type", None) in THREAD_TYPES
    # A thread belongs to its parent channel: that is the channel an allowlist names (and
    # where a video goes when the thread can no longer take it).
    parent = getattr(channel, "parent_id", None) if in_thread else None
    return ReplyTarget(
        platform=PLATFORM,
        workspace_id=str(guild_id) if guild_id else DM_WORKSPACE,
        channel_id=str(parent or channel_id),
        user_id=str(user.id),
        # Inside a thread the status goes into that thread (threads cannot nest).
        thread_id=str(channel_id) if in_thread else None,
        user_name=user.display_name,
    )


def interaction_target(interaction: discord.Interaction) -> ReplyTarget:
    assert interaction.channel_id is not None
    return _target(
        interaction.guild_id, interaction.channel, interaction.channel_id, interaction.user
    )


def message_target(message: discord.Message) -> ReplyTarget:
    guild_id = message.guild.id if message.guild else None
    return _target(guild_id, message.channel, message.channel.id, message.author)
