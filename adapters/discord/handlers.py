"""What videobot does when a Discord user asks: defer first, download attachments, hand a
platform-free request to the core, answer ephemerally. The core decides; this only translates.

The defer is the commit point: an interaction that cannot be deferred (10062, a replay past its
3 seconds) is dropped before anything is recorded, so it can never become a paid task."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import discord

from adapters.discord.attachment import download_attachments, media_attachments
from adapters.discord.chat import DiscordChat
from adapters.discord.errors import DISCORD_TROUBLE
from adapters.discord.replies import EDITED_BEFORE, PRESSED_BEFORE, said
from adapters.discord.target import (
    edit_key,
    interaction_key,
    interaction_target,
    message_target,
    press_key,
)
from adapters.discord.views import PromptModal, confirm_view
from adapters.fetch.fetcher import SafeFetcher
from adapters.media.batch import IntakeBatch
from adapters.media.intake import MediaIntake
from bot import checks, commands, confirm, messages, usage
from bot.domain import Profile, ReplyTarget, TaskState
from bot.errors import VideobotError
from bot.service import VideoService

log = logging.getLogger("videobot.discord")

_MENTION = re.compile(r"<@!?\d+>")
_DISCORD_HELP = (
    "On Discord: `/video` takes the options as fields (attach images or a clip there); "
    "`/videobot status|cancel|retry|list` handle tasks; right-click a message with an image, "
    "Apps > **Animate with videobot**; or mention me with a prompt and an image.\n"
)



class DiscordHandlers:
    """Every inbound path (slash command, context menu, modal, button, mention) ends here."""

    def __init__(
        self,
        service: VideoService,
        intake: MediaIntake,
        chat: DiscordChat,
        profile: Profile,
        fetcher: SafeFetcher,
    ) -> None:
        self.service = service
        self.intake = intake
        self.chat = chat
        self.profile = profile
        self.fetcher = fetcher

    # -- the commit point ----------------------------------------------------------------------
    async def defer(self, interaction: discord.Interaction, update: bool = False) -> bool:
        """Acknowledge within Discord's 3 s (`update`: the answer will replace the message the
        pressed button is on). False: the interaction is dead; do nothing more."""
        if interaction.guild_id:
            self.chat.learn_limit(str(interaction.guild_id), interaction.filesize_limit)
        try:
            if update:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=True, thinking=True)
        except DISCORD_TROUBLE as err:
            log.warning("interaction %s could not be deferred (%s): ignored", interaction.id, err)
            return False
        return True

    async def answer(
        self, interaction: discord.Interaction, text: str, ask: str | None = None
    ) -> None:
        """An ephemeral follow-up (the token is minutes old at most here); `ask`: the held
        request its Confirm and Cancel buttons are for."""
        view = confirm_view(ask) if ask else discord.utils.MISSING
        try:
            if interaction.response.type is discord.InteractionResponseType.deferred_message_update:
                # The question's own message becomes the outcome, its buttons gone.
                await interaction.edit_original_response(content=text[:2000], view=None)
                return
            await interaction.followup.send(text[:2000], ephemeral=True, view=view)
        except DISCORD_TROUBLE as err:
            log.warning("could not answer interaction %s: %s", interaction.id, err)

    # -- creating videos -----------------------------------------------------------------------
    async def submit(
        self,
        command: commands.VideoCommand,
        attachments: Sequence[discord.Attachment],
        target: ReplyTarget,
        idem_key: str,
        slots: Sequence[str] | None = None,
    ) -> str:
        """Download, validate, record. Returns the reply text; raises VideobotError."""
        self.service.check_access(target)
        with IntakeBatch(self.intake) as intake:  # a refusal keeps none of the media
            images, video = await download_attachments(attachments, self.fetcher, intake, slots)
            request = checks.build_request(command, images, video, self.profile)
            task, created = await self.service.accept(request, target, idem_key)
        return messages.accepted_reply(task, duplicate=not created)

    async def video_command(
        self,
        interaction: discord.Interaction,
        command: commands.VideoCommand,
        attachments: Sequence[discord.Attachment],
        slots: Sequence[str] | None = None,
    ) -> None:
        if not await self.defer(interaction):
            return
        ask = None
        try:
            target, key = interaction_target(interaction), interaction_key(interaction)
            text = await self.submit(command, attachments, target, key, slots)
        except VideobotError as err:
            text, ask = said(err)
        await self.answer(interaction, text, ask)

    async def animate(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Animate with videobot" context menu: a modal asks for the prompt."""
        media = media_attachments(message.attachments)
        if not media:
            await interaction.response.send_message(
                "That message has no image or video to animate. Use it on a message with an "
                "image (several images make a reference-to-video; a clip makes a video edit).",
                ephemeral=True,
            )
            return

        async def submitted(modal_interaction: discord.Interaction, prompt: str) -> None:
            await self.video_command(modal_interaction, commands.VideoCommand(prompt), media)

        await interaction.response.send_modal(
            PromptModal(
                "Animate with videobot",
                "Prompt",
                "What should happen in the video?",
                submitted,
                self.profile.prompt_max_chars,
            )
        )

    async def on_mention(self, message: discord.Message, me: discord.ClientUser) -> None:
        """A message that mentions the bot (a reply to it pings it too) with a prompt and
        optionally an image: Discord sends its content without the privileged intent."""
        if message.author.bot or me not in message.mentions:
            return
        text = _MENTION.sub(" ", message.content).strip()
        media = media_attachments(message.attachments)
        referenced = message.reference.resolved if message.reference else None
        view: discord.ui.View = discord.utils.MISSING
        if not media and isinstance(referenced, discord.Message):
            media = media_attachments(referenced.attachments)
        try:
            command = commands.parse(text) if text else None
            if not isinstance(command, commands.VideoCommand):
                reply = (
                    "Mention me with a prompt (and an image to animate), e.g. "
                    "`@videobot make it snow`, or use `/video`."
                )
            else:
                reply = await self.submit(
                    command, media, message_target(message), f"discord:m:{message.id}"
                )
        except VideobotError as err:
            reply, ask = said(err)
            view = confirm_view(ask) if ask else view
        try:
            await message.reply(reply[:2000], mention_author=False, view=view)
        except DISCORD_TROUBLE as err:
            log.warning("could not reply to message %s: %s", message.id, err)

    # -- task verbs ----------------------------------------------------------------------------
    async def on_button(self, interaction: discord.Interaction, action: str, ref: str) -> None:
        """A status-message button. Anything that no longer applies is answered ephemerally."""
        if action == "edit":
            await self._edit_button(interaction, ref)
            return
        if not await self.defer(interaction, update=action in ("confirm", "dismiss")):
            return
        by = interaction_target(interaction)
        ask = None
        try:
            if action == "cancel":
                task = await self.service.cancel(ref, by)
                text = messages.CANCEL_DONE.format(ref=task.ref)
            elif action == "dismiss":
                await self.service.dismiss(ref, by)
                text = confirm.DISMISSED
            elif action == "confirm":
                task, created = await self.service.confirm(ref, by)
                text = messages.accepted_reply(task, duplicate=not created)
            else:
                ratio = None
                if action == "flip":
                    old = await self.service.status(ref)
                    ratio = "16:9" if old.request.aspect_ratio == "9:16" else "9:16"
                key = press_key(interaction, action, ref)
                task, created = await self.service.retry(ref, by, key, aspect_ratio=ratio)
                text = (
                    messages.accepted_reply(task)
                    if created
                    else PRESSED_BEFORE.format(ref=task.ref)
                )
        except VideobotError as err:
            text, ask = said(err)
        await self.answer(interaction, text, ask)

    async def _edit_button(self, interaction: discord.Interaction, ref: str) -> None:
        try:
            task = await self.service.status(ref)
        except VideobotError as err:
            await interaction.response.send_message(str(err), ephemeral=True)
            return
        if task.state is not TaskState.DELIVERED:
            await interaction.response.send_message(
                f"Task {task.ref} has no finished video to edit ({task.state.value}).",
                ephemeral=True,
            )
            return

        # Keyed on the status message the form was opened from (a modal's own interaction
        # is new on every send) and on what was asked.
        message_id = interaction.message.id if interaction.message else interaction.id

        async def submitted(modal_interaction: discord.Interaction, instruction: str) -> None:
            if not await self.defer(modal_interaction):
                return
            ask = None
            try:
                new, created = await self.service.edit(
                    ref,
                    instruction,
                    interaction_target(modal_interaction),
                    edit_key(message_id, ref, instruction),
                )
                text = (
                    messages.accepted_reply(new) if created else EDITED_BEFORE.format(ref=new.ref)
                )
            except VideobotError as err:
                text, ask = said(err)
            await self.answer(modal_interaction, text, ask)

        await interaction.response.send_modal(
            PromptModal(
                "Edit this video",
                "Instruction",
                "e.g. make it black and white",
                submitted,
                self.profile.prompt_max_chars,
            )
        )

    async def task_verb(self, interaction: discord.Interaction, verb: str, ref: str = "") -> None:
        """`/videobot status|cancel|retry|list|usage|help`."""
        if not await self.defer(interaction):
            return
        by = interaction_target(interaction)
        ref = ref.strip().upper()
        ask = None
        try:
            if verb == "help":
                text = (
                    _DISCORD_HELP
                    + "```\n"
                    + usage.help_text(self.profile, "/video", "/videobot", platform="discord")
                    + "```"
                )
            elif verb.startswith("usage"):
                text = await self.service.reports.usage(by, everyone=verb == "usage all")
            elif verb == "list":
                tasks = await self.service.recent(by)
                text = "\n".join(messages.task_line(t) for t in tasks) or messages.NO_TASKS
            elif verb == "status":
                task = await self.service.status(ref)
                text = messages.status_view(task, task.updated_at).text()
            elif verb == "cancel":
                task = await self.service.cancel(ref, by)
                text = messages.CANCEL_DONE.format(ref=task.ref)
            else:
                task, created = await self.service.retry(ref, by, interaction_key(interaction))
                text = messages.accepted_reply(task, duplicate=not created)
        except VideobotError as err:
            text, ask = said(err)
        await self.answer(interaction, text, ask)

