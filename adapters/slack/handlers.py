"""What each Slack trigger does: ack first (Slack retries or shows an error after 3 s), then
translate the payload into a ReplyTarget + VideoRequest and call the service. Idempotency keys
are Slack's own ids, so retries and double clicks land on the ledger's UNIQUE key."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.media.batch import IntakeBatch
from adapters.slack import blocks
from adapters.slack.answer import Answer, Blocks, ephemeral, quietly, reply
from adapters.slack.buttons import press
from adapters.slack.files import SlackFiles, describe, is_media
from adapters.slack.mrkdwn import unescape
from adapters.slack.target import team_of, utc_now, who
from bot import checks, commands, messages, usage
from bot.domain import Mode, Profile, ReplyTarget
from bot.errors import CommandError, ConfirmationNeeded, VideobotError
from bot.service import VideoService

log = logging.getLogger("videobot.slack")

Body = dict[str, Any]
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_OOPS = "Something went wrong on my side; nothing was charged. Try again in a minute."


class SlackHandlers:
    def __init__(
        self,
        service: VideoService,
        files: SlackFiles,
        profile: Profile,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._service = service
        self._files = files
        self._profile = profile
        self._clock = clock
        self._running: set[asyncio.Task[Any]] = set()

    def _track(self) -> None:
        """Remember the listener's task: bolt runs it on after the ack, and a stop must not
        cut off a command that Slack was already told we received."""
        task = asyncio.current_task()
        if task is not None and task not in self._running:
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def drain(self, within: float) -> None:
        """Wait (at most `within` seconds) for listeners still working after their ack."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=within)

    # -- /video ------------------------------------------------------------------------------
    async def command(
        self, ack: AsyncAck, body: Body, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        self._track()
        await ack()
        text = unescape(str(body.get("text") or "")).strip()
        target = who(team_of(body), body["channel_id"], body["user_id"])
        if not text:
            meta = blocks.ModalMeta(channel_id=target.channel_id)
            await self._open(client, body, blocks.create_modal(self._profile, meta), respond)
            return

        async def answer(message: str, blocks: Blocks | None = None) -> None:
            await reply(respond, message, blocks=blocks)

        key = f"slack:{target.workspace_id}:cmd:{body['trigger_id']}"
        await self._guard(answer, self._run(text, target, key, [], answer))

    async def _run(
        self,
        text: str,
        target: ReplyTarget,
        key: str,
        files: list[Body],
        answer: Answer,
        announce: bool = True,
    ) -> None:
        """One command line. `announce` False keeps an accepted video quiet: for events the
        status message in the thread is the answer."""
        command = commands.parse(text) if text else commands.VideoCommand(prompt="")
        if isinstance(command, commands.SimpleCommand):
            if command.verb == "help":
                await answer(f"```{usage.help_text(self._profile, '/video', platform='slack')}```")
            elif command.verb.startswith("usage"):
                await answer(await self._service.reports.usage(target, "all" in command.verb))
            else:
                tasks = await self._service.recent(target)
                lines = "\n".join(messages.task_line(t) for t in tasks)
                await answer(f"```{lines}```" if lines else messages.NO_TASKS)
        elif isinstance(command, commands.TaskCommand):
            await answer(await self._task_verb(command, target, key))
        else:
            if command.images or command.refs or command.video:
                raise CommandError(blocks.NO_FILE_FLAGS)
            self._service.check_access(target)
            with IntakeBatch(self._files.intake) as intake:  # a refusal keeps none of it
                images, video = await self._files.media([f for f in files if is_media(f)], intake)
                request = checks.build_request(command, images, video, self._profile)
                task, created = await self._service.accept(request, target, key)
            if announce:
                await answer(messages.accepted_reply(task, duplicate=not created))

    async def _task_verb(self, command: commands.TaskCommand, by: ReplyTarget, key: str) -> str:
        if command.verb == "status":
            task = await self._service.status(command.ref)
            return messages.status_view(task, self._clock()).text()
        if command.verb == "cancel":
            task = await self._service.cancel(command.ref, by)
            return messages.CANCEL_DONE.format(ref=task.ref)
        if command.verb == "confirm":
            task, created = await self._service.confirm(command.ref, by)
        else:
            task, created = await self._service.retry(command.ref, by, key)
        return messages.accepted_reply(task, duplicate=not created)

    # -- buttons on the status message -------------------------------------------------------
    async def button(
        self, ack: AsyncAck, body: Body, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        self._track()
        await ack()
        action = body["actions"][0]
        verb = str(action["action_id"]).removeprefix(blocks.ACTION_PREFIX)
        ref = str(action.get("value") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        message_ts = str((body.get("container") or {}).get("message_ts") or "")
        by = who(team_of(body), channel, body["user"]["id"])

        # Confirm and Cancel on a question replace it with the outcome, so its buttons go.
        replace = verb in ("confirm", "dismiss")

        async def answer(message: str, blocks: Blocks | None = None) -> None:
            await reply(respond, message, replace_original=replace, blocks=blocks)

        if verb == "edit":
            meta = blocks.ModalMeta(channel_id=channel, ref=ref)
            await self._open(client, body, blocks.edit_modal(meta), respond)
            return
        # One task per button of one status message: a double click finds the first task.
        key = f"slack:{by.workspace_id}:{verb}:{ref}:{message_ts}"
        await self._guard(answer, press(self._service, verb, ref, by, key, answer))

    # -- message shortcut "Animate with videobot" --------------------------------------------
    async def shortcut(
        self, ack: AsyncAck, body: Body, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        self._track()
        await ack()
        message = body.get("message") or {}
        files = [f for f in message.get("files") or [] if is_media(f)]
        if not files:
            await reply(respond, blocks.NO_MEDIA_ON_MESSAGE)
            return
        meta = blocks.ModalMeta(
            channel_id=str(body["channel"]["id"]),
            thread_ts=str(message.get("thread_ts") or message["ts"]),
            file_ids=tuple(str(f["id"]) for f in files),
        )
        view = blocks.animate_modal(self._profile, meta, describe(files))
        await self._open(client, body, view, respond)

    # -- modal submissions -------------------------------------------------------------------
    async def submitted(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        self._track()
        view = body["view"]
        values = blocks.submitted_values(view)
        prompt = str(values.get("prompt") or "").strip()
        if not prompt:
            await ack(response_action="errors", errors={"prompt": blocks.PROMPT_NEEDED})
            return
        await ack()
        meta = blocks.ModalMeta.load(str(view.get("private_metadata") or ""))
        by = who(team_of(body), meta.channel_id, body["user"]["id"], meta.thread_ts)
        key = f"slack:{by.workspace_id}:view:{view['id']}"
        if view["callback_id"] == blocks.EDIT_VIEW:
            # Anyone may open Edit on a result: the same instruction for the same task from two
            # forms (a second user, a second press) is one paid edit, not two.
            key = f"slack:{by.workspace_id}:edit:{meta.ref}:{checks.instruction_digest(prompt)}"

        async def answer(message: str, blocks: Blocks | None = None) -> None:
            await ephemeral(client, by, message, blocks)

        await self._guard(answer, self._submit(view["callback_id"], values, meta, by, key))

    async def _submit(
        self,
        callback_id: str,
        values: dict[str, Any],
        meta: blocks.ModalMeta,
        by: ReplyTarget,
        key: str,
    ) -> None:
        prompt = str(values.get("prompt") or "")
        if callback_id == blocks.EDIT_VIEW:
            await self._service.edit(meta.ref or "", prompt, by, key)
            return
        files: list[Body] = list(values.get("files") or [])
        for file_id in meta.file_ids:
            files.append(await self._files.info(file_id))
        mode = values.get("mode")
        command = commands.VideoCommand(
            prompt=prompt,
            mode=Mode(mode) if mode and mode != "auto" else None,
            aspect_ratio=values.get("ar"),
            duration=int(values["duration"]) if values.get("duration") else None,
            resolution=values.get("res"),
        )
        self._service.check_access(by)
        with IntakeBatch(self._files.intake) as intake:  # a refusal keeps none of it
            images, video = await self._files.media(files, intake)
            request = checks.build_request(command, images, video, self._profile)
            await self._service.accept(request, by, key)

    # -- events: @videobot mentions and replies with media in a videobot thread --------------
    async def mention(self, body: Body, event: Body, client: AsyncWebClient) -> None:
        await self._event(body, event, client)

    async def message(
        self, body: Body, event: Body, client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        bot_user = str(context.get("bot_user_id") or "")
        if event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return
        if not event.get("thread_ts") or event.get("parent_user_id") != bot_user:
            return  # only replies inside a thread the bot started
        if not event.get("files") or f"<@{bot_user}>" in str(event.get("text") or ""):
            return  # no media; or a mention, which the app_mention event handles
        await self._event(body, event, client)

    async def _event(self, body: Body, event: Body, client: AsyncWebClient) -> None:
        self._track()
        if event.get("bot_id") or not event.get("user"):
            return  # never answer bots (loops), ourselves included
        thread = str(event.get("thread_ts") or event["ts"])
        target = who(team_of(body), str(event["channel"]), str(event["user"]), thread)
        text = unescape(_MENTION.sub("", str(event.get("text") or ""))).strip()
        files = [f for f in event.get("files") or [] if is_media(f)]
        key = f"slack:{target.workspace_id}:evt:{body.get('event_id')}"

        async def answer(message: str, blocks: Blocks | None = None) -> None:
            await ephemeral(client, target, message, blocks)

        if not text and not files:
            await quietly(
                answer, f"```{usage.help_text(self._profile, '@videobot', platform='slack')}```"
            )
            return
        await self._guard(answer, self._run(text, target, key, files, answer, announce=False))

    async def _open(
        self, client: AsyncWebClient, body: Body, view: Body, respond: AsyncRespond
    ) -> None:
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackClientError as err:
            log.warning("views.open failed: %s", err)
            await reply(respond, "I could not open the form; try again.")

    async def _guard(self, answer: Answer, work: Awaitable[None]) -> None:
        """Run `work` after the ack; whatever fails, the user hears about it."""
        try:
            await work
        except ConfirmationNeeded as err:  # a question, with Confirm and Cancel
            await quietly(answer, str(err), blocks.confirm_blocks(str(err), err.ref))
        except VideobotError as err:
            await quietly(answer, f"⚠️ {err}")
        except Exception:  # the listener boundary: log it, tell the user, keep serving
            log.exception("slack handler failed")
            await quietly(answer, _OOPS)
