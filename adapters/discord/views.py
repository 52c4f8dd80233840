"""Discord rendering: a StatusView as an embed plus persistent buttons, and the modals.

Buttons are `DynamicItem`s: the task reference travels in the `custom_id`
(`vb:<action>:<ref>`), and the class is registered once at start with `add_dynamic_items`, so a
button on a weeks-old status message still works after any number of restarts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord

from bot.messages import Button, StatusView, clip

CUSTOM_ID_TEMPLATE = (
    r"vb:(?P<action>cancel|retry|flip|edit|confirm|dismiss):(?P<ref>[0-9A-Z]{4,12})"
)

_COLOURS = {
    "delivered": discord.Colour.green(),
    "failed": discord.Colour.red(),
    "rejected": discord.Colour.red(),
    "timed_out": discord.Colour.orange(),
    "unknown": discord.Colour.orange(),
    "undeliverable": discord.Colour.orange(),
    "cancelled": discord.Colour.light_grey(),
}
_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "default": discord.ButtonStyle.secondary,
}


def custom_id(action: str, ref: str) -> str:
    return f"vb:{action}:{ref}"


def inert(text: str, limit: int) -> str:
    """Text that carries a prompt, a user's name or a provider's words, made literal: no masked
    link, code fence, spoiler or emphasis in it renders (links stay clickable as plain URLs),
    clipped to `limit` after escaping. Mentions are governed by allowed_mentions instead."""
    # discord.utils.escape_markdown leaves fences and emphasis after a link live, so every
    # markdown character is escaped here, except inside plain URLs (shown, never disguised).
    pieces, last = [], 0
    for url in _URL.finditer(text):
        pieces += [_MARKDOWN.sub(_escaped, text[last : url.start()]), url.group(0)]
        last = url.end()
    pieces.append(_MARKDOWN.sub(_escaped, text[last:]))
    return clip("".join(pieces), limit)


def _escaped(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return f"{match.group(2)}\\{match.group(3)}"


_URL = re.compile(r"https?://[^\s<>]+")
# Inline markers anywhere; quotes, headings and list marks only where a line starts.
_MARKDOWN = re.compile(r"([\\*_~|`\[\]()])|^(\s*)([>#-])", re.MULTILINE)


def status_embed(view: StatusView) -> discord.Embed:
    """The status message's embed; the wording comes from bot.messages, made inert."""
    description = view.summary if not view.detail else f"{view.summary}\n\n{view.detail}"
    embed = discord.Embed(
        title=view.headline[:256],
        description=inert(description, 4096),
        colour=_COLOURS.get(view.state, discord.Colour.blurple()),
    )
    embed.set_footer(text=f"task {view.ref}")
    return embed


class ButtonHandler(Protocol):
    """What a pressed task button calls: the adapter's handlers (kept out of this module)."""

    async def on_button(self, interaction: discord.Interaction, action: str, ref: str) -> None: ...


class TaskButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_TEMPLATE):
    """One task button. discord.py rebuilds it from the custom_id on every press."""

    def __init__(self, action: str, ref: str, label: str = "", style: str = "default") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action.title(),
                style=_STYLES.get(style, discord.ButtonStyle.secondary),
                custom_id=custom_id(action, ref),
            )
        )
        self.action = action
        self.ref = ref

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py's signature is positional-only with Item[Any]
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[Any],
        match: Any,
        /,
    ) -> TaskButton:
        return cls(match["action"], match["ref"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handler = getattr(interaction.client, "handlers", None)
        if handler is None:  # a client without our handlers attached: nothing to do
            return
        await handler.on_button(interaction, self.action, self.ref)


def buttons_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A persistent (timeout=None) view of the task's buttons, or None for no buttons."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(TaskButton(button.action, button.ref, button.label, button.style))
    return view


def confirm_view(ref: str) -> discord.ui.View:
    """Confirm and Cancel for a request held for confirmation (`ref` is the held request's)."""
    view = discord.ui.View(timeout=None)
    view.add_item(TaskButton("confirm", ref, "Confirm", "primary"))
    view.add_item(TaskButton("dismiss", ref, "Cancel"))
    return view


Submit = Callable[[discord.Interaction, str], Awaitable[None]]


class PromptModal(discord.ui.Modal):
    """Asks for one line of text (the prompt, or an edit instruction) and hands it on."""

    def __init__(
        self, title: str, label: str, placeholder: str, on_submit: Submit, max_length: int
    ) -> None:
        super().__init__(title=title[:45], timeout=600)
        self.text: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=label[:45],
            placeholder=placeholder[:100],
            style=discord.TextStyle.paragraph,
            max_length=min(max_length, 4000),  # Discord's most for a text input
        )
        self.add_item(self.text)
        self._submit = on_submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._submit(interaction, self.text.value)
