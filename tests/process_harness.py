"""`python -m bot ...` as a real child process for the process-level tests: stdin kept open,
stdout read line by line as it comes (to know when the process is ready), stderr to a file,
and bounded waits only: a test never sleeps to pass."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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
    stderr_path: Path
    lines: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return "".join(self.lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def expect(self, needle: str, within: float = READY_WITHIN) -> str:
        """The first stdout line containing `needle` (waits for it, bounded)."""
        async with asyncio.timeout(within):
            while True:
                found = next((line for line in self.lines if needle in line), None)
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


_serial = itertools.count(1)


def _stderr_file(cwd: Path) -> tuple[Path, int]:
    path = cwd / f"stderr-{next(_serial)}.txt"
    return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


async def start_bot(args: list[str], cwd: Path, env: dict[str, str]) -> BotProcess:
    stderr_path, stderr = _stderr_file(cwd)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=env,
        )
    finally:
        os.close(stderr)  # the child has its own copy
    bot = BotProcess(proc, stderr_path)
    bot._reader = asyncio.create_task(bot._read())
    return bot


@contextlib.asynccontextmanager
async def bot_process(args: list[str], cwd: Path, env: dict[str, str]) -> AsyncIterator[BotProcess]:
    """A child that is always gone when the block ends (killed if the test did not end it)."""
    bot = await start_bot(args, cwd, env)
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
