"""`python -m bot ...` as a real child process for the process-level tests: stdin kept open,
stdout and stderr read line by line as they come (to know when the process is ready),
and bounded waits only: a test never sleeps to pass."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

#: Generous on a loaded 2-core machine; a healthy run takes a fraction of it.
READY_WITHIN = 60.0


def clean_env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any platform or API setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIDEO", "SLACK", "DISCORD", "PYTEST", "COV_"))
    }
    env.update({"VIDEOBOT_DATA_DIR": str(cwd / "data"), "PYTHONUNBUFFERED": "1", **(extra or {})})
    return env


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    err_lines: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return "".join(self.lines)

    def stderr(self) -> str:
        return "".join(self.err_lines)

    async def _read(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        await asyncio.gather(
            self._pump(self.proc.stdout, self.lines), self._pump(self.proc.stderr, self.err_lines)
        )

    async def _pump(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def expect(self, needle: str, within: float = READY_WITHIN, stderr: bool = False) -> str:
        """The first stdout (or stderr) line containing `needle` (waits for it, bounded)."""
        async with asyncio.timeout(within):
            while True:
                lines = self.err_lines if stderr else self.lines
                found = next((line for line in lines if needle in line), None)
                if found is not None:
                    return found
                if self._reader is not None and self._reader.done():
                    raise AssertionError(
                        f"exited ({self.proc.returncode}) before printing {needle!r}:\n"
                        f"{self.stdout}\n{self.stderr()}"
                    )
                self._changed.clear()
                await self._changed.wait()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())

    async def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self.proc.stdin.wait_closed()

    async def wait(self, within: float = READY_WITHIN) -> int:
        async with asyncio.timeout(within):
            code = await self.proc.wait()
            if self._reader is not None:
                await self._reader
        return code

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)


async def start_bot(
    args: list[str], cwd: Path, env: dict[str, str], module: str = "bot"
) -> BotProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    bot = BotProcess(proc)
    bot._reader = asyncio.create_task(bot._read())
    return bot


@contextlib.asynccontextmanager
async def bot_process(
    args: list[str], cwd: Path, env: dict[str, str], module: str = "bot"
) -> AsyncIterator[BotProcess]:
    """A child that is always gone when the block ends (killed if the test did not end it);
    `python -m <module>`, the bot unless told."""
    bot = await start_bot(args, cwd, env, module)
    try:
        yield bot
    finally:
        if bot.proc.returncode is None:
            bot.proc.kill()
            await bot.proc.wait()
        if bot._reader is not None:
            await bot._reader


async def run_bot(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> tuple[int, str, str]:
    """Run to the end: (exit code, stdout, stderr)."""
    async with bot_process(args, cwd, env) as bot:
        bot.send(stdin)
        await bot.close_stdin()
        code = await bot.wait()
        return code, bot.stdout, bot.stderr()
