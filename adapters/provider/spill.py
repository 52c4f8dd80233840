"""A video can arrive as base64 inside a JSON answer (tens of MB). Very long JSON strings are
written to files as the answer streams in, decoded from base64 on the way, and the JSON keeps a
short marker in their place: neither the answer nor the video is ever whole in memory."""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MARKER = "videobot-spill:"
_QUOTE = b'"'
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_UNESCAPE = ((b"\\/", b"/"), (b"\\n", b""), (b"\\r", b""))  # what encoders put in base64 text


@dataclass(frozen=True, slots=True)
class Spilled:
    """One string that went to a file: `size` decoded bytes; `valid` when it was base64 all
    through; `truncated` when it outgrew the cap (the rest was read and dropped)."""

    marker: str
    path: Path
    size: int
    valid: bool
    truncated: bool


class JsonSpill:
    """Rewrites one JSON answer while it streams. `feed` returns the JSON text to keep (strings
    longer than `threshold` bytes replaced by `"videobot-spill:<token>"`), `finish` the rest at
    the end. Each file is `<directory>/<token>.bin`; `spilled` lists them."""

    def __init__(self, directory: Path, *, threshold: int, cap: int) -> None:
        self._directory = directory
        self._threshold = threshold
        self._cap = cap
        self.spilled: list[Spilled] = []
        self._carry = b""  # an escape's backslash cut off at a chunk's end
        self._in_string = False
        self._text = bytearray()  # the current string while it is still short
        self._file: BinaryIO | None = None
        self._token = ""
        self._pending = b""  # base64 characters not yet a whole quantum of 4
        self._written = 0
        self._valid = True
        self._padded = False

    def heavy(self, chunk: bytes) -> bool:
        """Feeding `chunk` may touch the disk (run it in a thread, off the event loop)."""
        return self._file is not None or len(self._text) + len(chunk) > self._threshold

    def feed(self, chunk: bytes) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        kept = bytearray()
        pos = 0
        while pos < len(data):
            if not self._in_string:
                quote = data.find(_QUOTE, pos)
                if quote < 0:
                    kept += data[pos:]
                    break
                kept += data[pos : quote + 1]
                pos, self._in_string = quote + 1, True
                continue
            close = _closing_quote(data, pos)
            if close < 0:
                stop = len(data)
                if _backslashes_before(data, pos, stop) % 2:  # an escape split across chunks
                    stop -= 1
                    self._carry = data[stop:]
                self._string_part(data[pos:stop])
                break
            self._string_part(data[pos:close])
            kept += self._string_end()
            pos, self._in_string = close + 1, False
        return bytes(kept)

    def finish(self) -> bytes:
        """What is left at the end of the answer (only a cut-off answer leaves anything)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        rest = bytes(self._text) + self._carry
        self._text, self._carry = bytearray(), b""
        return rest

    def discard(self) -> None:
        """Delete every file this answer produced (the answer failed, or nobody wants them)."""
        self.finish()
        for spilled in self.spilled:
            spilled.path.unlink(missing_ok=True)
        if self._token:
            (self._directory / f"{self._token}.bin").unlink(missing_ok=True)
        self.spilled.clear()

    # -- one string ----------------------------------------------------------------------------
    def _string_part(self, raw: bytes) -> None:
        if self._file is None:
            self._text += raw
            if len(self._text) > self._threshold:
                self._start_file()
            return
        self._decode(raw)

    def _start_file(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._token = secrets.token_hex(16)
        self._file = (self._directory / f"{self._token}.bin").open("wb")
        self._pending, self._written, self._valid, self._padded = b"", 0, True, False
        text, self._text = bytes(self._text), bytearray()
        self._decode(text)

    def _decode(self, raw: bytes) -> None:
        if not self._valid:
            return  # read on to the string's end, keep nothing
        if b"\\" in raw:
            for escaped, plain in _UNESCAPE:
                raw = raw.replace(escaped, plain)
            if b"\\" in raw:
                self._valid = False
                return
        text = self._pending + raw.translate(_URLSAFE)
        whole = len(text) - len(text) % 4
        self._pending = text[whole:]
        self._write(text[:whole])

    def _write(self, quanta: bytes) -> None:
        if not quanta:
            return
        if self._padded:  # padding ends base64; more text after it is not base64
            self._valid = False
            return
        try:
            data = binascii.a2b_base64(quanta, strict_mode=True)
        except binascii.Error:
            self._valid = False
            return
        self._padded = quanta.endswith(b"=")
        if self._written + len(data) > self._cap:
            self._written = self._cap + 1  # over the cap: keep reading, keep nothing more
            return
        assert self._file is not None
        self._file.write(data)
        self._written += len(data)

    def _string_end(self) -> bytes:
        if self._file is None:
            text, self._text = bytes(self._text), bytearray()
            return text + _QUOTE
        if self._valid and self._pending:
            if len(self._pending) == 1:
                self._valid = False
            else:
                self._write(self._pending + b"=" * (4 - len(self._pending)))
        self._file.close()
        self._file = None
        marker = MARKER + self._token
        truncated = self._written > self._cap
        self.spilled.append(
            Spilled(
                marker,
                self._directory / f"{self._token}.bin",
                min(self._written, self._cap),
                self._valid,
                truncated,
            )
        )
        self._token = ""
        return marker.encode() + _QUOTE


def _closing_quote(data: bytes, start: int) -> int:
    """The index of the first quote at or after `start` that no backslash escapes, or -1."""
    quote = data.find(_QUOTE, start)
    while quote >= 0:
        if _backslashes_before(data, start, quote) % 2 == 0:
            return quote
        quote = data.find(_QUOTE, quote + 1)
    return -1


def _backslashes_before(data: bytes, start: int, end: int) -> int:
    """How many backslashes run up to `end` (not counting any before `start`)."""
    count = 0
    while end - count - 1 >= start and data[end - count - 1] == 0x5C:
        count += 1
    return count
