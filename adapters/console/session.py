"""The offline console chat behind `videobot demo`: type commands, watch each task's status
as a rendered thread, find the MP4 under the output folder. On a terminal each live task is a
progress bar under the thread lines (rich), and with stdin a terminal too, commands are typed on
an input line under the bars (prompt.py). Otherwise every status edit is one plain line, and with
stdin not a terminal it exits once every task it started has ended (scriptable)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import uuid
from datetime import timedelta
from typing import TextIO

from adapters.console.chat import ConsoleChat
from adapters.console.prompt import PromptLine
from adapters.console.stdin import lines as _lines
from adapters.media.batch import IntakeBatch
from adapters.media.intake import MediaIntake
from bot import checks, commands, confirm, messages, usage
from bot.domain import MediaRef, Profile, ReplyTarget
from bot.errors import ConfirmationNeeded, NotFound, VideobotError
from bot.service import VideoService

__all__ = ["CHECK_EVERY", "PLATFORM", "ConsoleChat", "ConsoleSession"]  # ConsoleChat: chat.py

PLATFORM = "console"
GREETING = (
    "videobot console. Type /video <prompt> (e.g. /video a paper boat on a river --ar 9:16), "
    "`help`, or `quit`."
)
# How often a scripted run waiting for its tasks looks them up: on a shared ledger another
# process may end one (deliver it, cancel it), and only that process's console says so.
CHECK_EVERY = timedelta(seconds=1.5)


class ConsoleSession:
    """Reads commands and answers them the way a chat adapter would: at once."""

    def __init__(
        self,
        service: VideoService,
        intake: MediaIntake,
        chat: ConsoleChat,
        profile: Profile,
        out: TextIO,
        check_every: timedelta = CHECK_EVERY,
    ) -> None:
        self._service = service
        self._check_every = check_every
        self._intake = intake
        self._chat = chat
        self._profile = profile
        self._out = out
        # The OS account is the requester in the ledger; the thread names the reader "you".
        self._target = ReplyTarget(PLATFORM, "local", "console", getpass.getuser(), None, "you")
        self._session = uuid.uuid4().hex[:8]
        self._lines = 0
        self.started: set[str] = set()
        self.refused = 0  # lines answered with a refusal (a scripted demo then exits 1)
        self.waiting: set[str] = set()  # questions asked and not answered (exits 1 as well)

    def _say(self, text: str) -> None:
        if self._chat.live:  # through the chat, so the line lands above the progress bars
            self._chat.say(text)
            return
        self._out.write(text + "\n")
        self._out.flush()

    async def handle(self, line: str) -> bool:
        """Answer one line; False means the user asked to quit."""
        line = line.lstrip("\ufeff").strip()  # a file saved with a BOM starts with one
        if not line or line.startswith("#"):
            return True
        if line.lower() in ("quit", "exit", "/quit", "/exit"):
            return False
        self._lines += 1
        key = f"console:{self._session}:{self._lines}"
        if line.startswith("@") and " " in line:
            # `@<id> <command>`: a scripted driver names its event, so replaying the line
            # (after a crash, say) is the same command, as a platform retry would be.
            event, line = line[1:].split(" ", 1)
            key = f"console:event:{event}"
        text = line
        first = text.split(maxsplit=1)[0].lower()
        if first in ("/video", "video"):
            text = text[len(first) :]
        elif first not in commands.VERBS:
            self.refused += 1  # a piped run that was not understood exits non-zero
            self._say(
                "I did not understand that line. Type /video <prompt> to make a video, or help."
            )
            return True
        try:
            await self._dispatch(commands.parse(text), key)
        except ConfirmationNeeded as err:  # a question, not a refusal
            self.waiting.add(err.ref)
            self._say(f"💰 {err}")
        except VideobotError as err:
            self.refused += 1
            self._say(f"⚠️  {err}")
        return True

    async def _dispatch(self, command: commands.Command, key: str) -> None:
        if isinstance(command, commands.SimpleCommand):
            if command.verb == "help":
                self._say(usage.help_text(self._profile))
            elif command.verb.startswith("usage"):
                everyone = command.verb == "usage all"
                self._say(await self._service.reports.usage(self._target, everyone))
            else:
                tasks = await self._service.recent(self._target)
                self._say("\n".join(messages.task_line(t) for t in tasks) or messages.NO_TASKS)
            return
        if isinstance(command, commands.TaskCommand):
            if command.verb == "status":
                task = await self._service.status(command.ref)
                view = messages.status_view(task, task.updated_at)
                self._say(view.text())
            elif command.verb == "cancel":
                await self._cancel(command.ref)
            else:
                if command.verb == "confirm":
                    task, created = await self._service.confirm(command.ref, self._target)
                    self.waiting.discard(task.ref)
                else:
                    task, created = await self._service.retry(command.ref, self._target, key)
                self.started.add(task.ref)
                self._say(messages.accepted_reply(task, duplicate=not created))
            return
        with IntakeBatch(self._intake) as intake:  # a refusal keeps none of the media
            images = [await intake.from_path(p) for p in (*command.images, *command.refs)]
            video: MediaRef | None = None
            if command.video:
                video = await intake.from_path(command.video)
            request = checks.build_request(command, images, video, self._profile)
            task, created = await self._service.accept(request, self._target, key)
        self.started.add(task.ref)
        if not created and task.state.is_terminal:
            self._chat.finished.add(task.ref)  # it ended before this session: nothing to wait for
        self._say(messages.accepted_reply(task, duplicate=not created))

    async def _cancel(self, ref: str) -> None:
        """`cancel REF`: a task, or a request still waiting for its `confirm` (declined)."""
        if await self._service.confirmations.holds(ref):
            await self._service.dismiss(ref, self._target)
            self.waiting.discard(ref.upper())
            self._say(confirm.DISMISSED)
            return
        task = await self._service.cancel(ref, self._target)
        self._say(messages.CANCEL_DONE.format(ref=task.ref))

    async def run(self, stdin: TextIO) -> None:
        if stdin.isatty() and self._chat.live:
            await self._run_at_the_terminal()
            return
        interactive = stdin.isatty()
        if interactive:
            self._say(GREETING)
        await self.resume()
        async for line in _lines(stdin):
            if not await self.handle(line):
                await self.say_what_is_left()
                return
        if not interactive:
            await self.wait_for_started()

    async def _run_at_the_terminal(self) -> None:
        """Commands typed on an input line under the bars, until `quit`, Ctrl-D or Ctrl-C."""
        with PromptLine() as prompt:
            # Kept after the prompt is gone: lines still print, bars have nowhere to show.
            self._chat.use_bars(prompt.bars)
            self._say(GREETING)
            await self.resume()
            while (line := await prompt.read()) is not None and await self.handle(line):
                pass
            await self.say_what_is_left()

    async def resume(self) -> None:
        """Tasks a previous run left unfinished (it was killed, or quit) are this run's too:
        the worker picks them up, and a scripted run waits for them as for its own."""
        left = await self._service.unfinished(self._target)
        if left:
            refs = ", ".join(t.ref for t in left)
            self.started.update(t.ref for t in left)
            self._say(f"Resuming {_tasks(len(left))} left unfinished by the last run: {refs}.")

    async def say_what_is_left(self) -> None:
        left = await self._service.unfinished(self._target)
        if left:
            self._say(
                "One task is not finished yet; it is kept and finishes when you start the demo "
                "again."
                if len(left) == 1
                else f"{len(left)} tasks are not finished yet; they are kept and finish when "
                "you start the demo again."
            )

    async def converse(self, stdin: TextIO, stop: asyncio.Event) -> None:
        """`run` until it ends or `stop` is set; then set `stop`, so the rest of the process
        (the worker) ends with the conversation. Raises what `run` raised."""
        reading = asyncio.create_task(self.run(stdin))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():  # SIGTERM or Ctrl-C: say what quitting would have said
                await self.say_what_is_left()
        finally:
            stop.set()
            stopping.cancel()
            reading.cancel()  # stdin is read by a daemon thread: nothing to wait for
            await asyncio.wait({reading})
        if not reading.cancelled() and (failure := reading.exception()) is not None:
            raise failure

    async def wait_for_started(self) -> None:
        """Scripted runs end when every task they started has ended: shown final here, or
        ended by another process sharing the ledger, which this run then tells in the words
        its own console uses (the tasks still open are looked up every `check_every`)."""
        while not self.started <= self._chat.finished:
            self._chat.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._check_every.total_seconds()):
                    await self._chat.changed.wait()
            await self._ended_elsewhere()

    async def _ended_elsewhere(self) -> None:
        for ref in sorted(self.started - self._chat.finished):
            try:
                task = await self._service.status(ref)
            except NotFound:
                self._chat.finished.add(ref)  # gone from the ledger: nothing left to wait for
                continue
            if task.state.is_terminal:
                view = messages.status_view(task, task.updated_at)
                await self._chat.update_status(self._target, "", view)


def _tasks(count: int) -> str:
    return "one task" if count == 1 else f"{count} tasks"
