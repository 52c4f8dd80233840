"""The offline console chat behind `videobot demo`: type commands, watch each task's status
as a rendered thread, find the MP4 under the output folder. On a terminal each live task is a
progress bar under the thread lines (rich), and with stdin a terminal too, commands are typed on
an input line under the bars (prompt.py). Otherwise every status edit is one plain line, and with
stdin not a terminal it exits once every task it started has ended (scriptable)."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import uuid
from pathlib import Path
from typing import TextIO

from adapters.console.bars import LiveBars
from adapters.console.prompt import PromptLine
from adapters.console.stdin import lines as _lines
from adapters.media.batch import IntakeBatch
from adapters.media.intake import MediaIntake
from bot import checks, commands, confirm, messages, usage
from bot.domain import MediaRef, Profile, ReplyTarget
from bot.errors import ConfirmationNeeded, VideobotError
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery
from bot.service import VideoService

PLATFORM = "console"
GREETING = (
    "videobot console. Type /video <prompt> (e.g. /video a paper boat on a river --ar 9:16), "
    "`help`, or `quit`."
)


class ConsoleChat:
    """The Chat port on a terminal: a status message is a thread header, edits are lines (or,
    when `live`, one progress bar per task kept under the thread lines and redrawn in place)."""

    def __init__(self, out: TextIO, output_dir: Path, live: bool | None = None) -> None:
        self._out = out
        self._output_dir = output_dir
        self._count = 0
        self.finished: set[str] = set()
        self.changed = asyncio.Event()
        # Scripts and tests read plain lines; control codes are for a person at a terminal.
        self.live = out.isatty() if live is None else live
        self._bars = LiveBars(out) if self.live else None

    def say(self, text: str) -> None:
        """One line of the transcript (above the progress bars when they are showing)."""
        if self._bars is not None:
            self._bars.say(text)
            return
        self._out.write(text + "\n")
        self._out.flush()

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        self._count += 1
        self.say(f"┌─ thread {view.ref} " + "─" * 40)
        self.say("│ " + view.summary)
        self._line(view)
        return f"console-{self._count}"

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        self._line(view)

    def _line(self, view: StatusView) -> None:
        corner = "└" if view.final else "│"
        headline = view.headline
        if view.progress is not None and f"{view.progress}%" in view.detail:
            # The bar in the detail says the percentage; the headline need not say it too.
            headline = headline.removesuffix(f" {view.progress}%")
        line = f"{corner} {view.ref}  {headline}  {view.detail}".rstrip()
        if self._bars is None:
            self.say(line)
        elif view.final:
            self._bars.remove(view.ref)
            self.say(line)
        else:
            self._bars.show(view)
        if view.final:
            self.finished.add(view.ref)
            self.changed.set()

    def use_bars(self, bars: LiveBars) -> None:
        """Draw the bars with `bars` from now on; the bars showing move across."""
        if self._bars is None:
            return
        for view in self._bars.views.values():
            bars.show(view)
        self._bars.close()
        self._bars = bars

    def close(self) -> None:
        """Take the bars off the screen (the thread lines stay)."""
        if self._bars is not None:
            self._bars.close()

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        dest = self._output_dir / delivery.filename
        if dest.exists():  # reconcile: posted before a crash; never post (or announce) twice
            return str(dest)
        self._output_dir.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".part")
        await asyncio.to_thread(shutil.copyfile, delivery.path, part)
        part.replace(dest)
        self.say(f"│ 🎞  {delivery.caption}\n│    saved: {dest}")
        return str(dest)

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        self.say(f"│ 🔗 {text}")
        return key


class ConsoleSession:
    """Reads commands and answers them the way a chat adapter would: at once."""

    def __init__(
        self,
        service: VideoService,
        intake: MediaIntake,
        chat: ConsoleChat,
        profile: Profile,
        out: TextIO,
    ) -> None:
        self._service = service
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
        """Scripted runs end when every task they started has shown its final status."""
        while not self.started <= self._chat.finished:
            self._chat.changed.clear()
            await self._chat.changed.wait()


def _tasks(count: int) -> str:
    return "one task" if count == 1 else f"{count} tasks"
