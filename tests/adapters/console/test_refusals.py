"""What the console refuses costs nothing and keeps nothing: repeated media, kinds that do not
match their flag, paths that are empty or folders (named as typed), lines it does not
understand (counted, so a piped demo exits non-zero); and what it accepts that it used to
refuse: emoji prompts, a BOM, tabs, and `--` ending the options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from adapters.console.session import ConsoleChat, ConsoleSession
from adapters.simulator.mp4 import render_mp4
from tests.conftest import Engine, EngineFactory, console_engine


@pytest.fixture
def console(
    make_engine: EngineFactory, tmp_path: Path
) -> tuple[Engine, ConsoleSession, io.StringIO]:
    out = io.StringIO()
    engine, session = console_engine(
        make_engine(), ConsoleChat(out, tmp_path / "out"), out, tmp_path
    )
    return engine, session, out


def media_files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name == "media"]


async def said(session: ConsoleSession, out: io.StringIO, line: str) -> str:
    start = len(out.getvalue())
    await session.handle(line)
    return out.getvalue()[start:].strip()


async def test_repeated_media_is_refused_and_nothing_is_kept(
    console: tuple[Engine, ConsoleSession, io.StringIO], tmp_path: Path
) -> None:
    engine, session, out = console
    Image.new("RGB", (40, 30), "red").save(tmp_path / "cat.png")
    Image.new("RGB", (40, 30), "blue").save(tmp_path / "b.png")
    cat, b = tmp_path / "cat.png", tmp_path / "b.png"
    assert await said(session, out, f"/video x --image {cat} --image {b}") == (
        "⚠️  Option --image was given twice; give it once."
    )
    answer = await said(session, out, f"/video x --ref {cat} --ref {cat}")
    assert answer.startswith(f"⚠️  {cat} is given twice; give each image once"), answer
    answer = await said(session, out, f"/video x --image {cat} --video {b}")
    assert f"{b} is an image, not a video clip" in answer
    assert media_files(tmp_path) == []  # refused requests keep nothing
    assert session.refused == 3


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ('""', "A file option was given an empty path; give the path of"),
        (".", ". is a folder, not a file. Give the path of"),
        ("./nope.", "No file at ./nope. Give the path of"),
    ],
)
async def test_a_path_that_is_no_file_is_named_as_typed_in_one_sentence(
    console: tuple[Engine, ConsoleSession, io.StringIO], typed: str, answer: str
) -> None:
    _, session, out = console
    assert (await said(session, out, f"/video x --image {typed}")).startswith(f"⚠️  {answer}")


async def test_a_kind_mismatch_names_the_path_as_typed(
    console: tuple[Engine, ConsoleSession, io.StringIO],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, session, out = console
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "my dir"
    folder.mkdir()
    Image.new("RGB", (40, 30), "red").save(folder / "cat.png")
    (folder / "clip.mp4").write_bytes(render_mp4("a clip", "16:9", 4, height=144))
    answer = await said(session, out, '/video x --image "my dir/clip.mp4"')
    assert answer.startswith("⚠️  my dir/clip.mp4 is a video clip, not an image"), answer
    answer = await said(session, out, "/video x --video ./my\\ dir/cat.png")
    assert answer.startswith("⚠️  ./my dir/cat.png is an image, not a video clip"), answer
    assert media_files(tmp_path) == []


async def test_emoji_are_a_prompt_and_edit_takes_no_extra_image(
    console: tuple[Engine, ConsoleSession, io.StringIO], tmp_path: Path
) -> None:
    engine, session, out = console
    assert "Got it: task" in await said(session, out, "/video 🐱🌊")
    assert "Got it: task" in await said(session, out, "/video 😀")
    Image.new("RGB", (40, 30), "red").save(tmp_path / "cat.png")
    (tmp_path / "clip.mp4").write_bytes(render_mp4("a clip", "16:9", 4, height=144))
    answer = await said(
        session, out, f"/video rain --image {tmp_path}/cat.png --video {tmp_path}/clip.mp4"
    )
    assert "Video edit takes one clip and no images; you gave 1 besides the clip" in answer


async def test_lines_it_does_not_understand_count_as_refused(
    console: tuple[Engine, ConsoleSession, io.StringIO],
) -> None:
    _, session, out = console
    for line in ("/vidoe a cat", "foo bar"):
        assert (await said(session, out, line)).startswith("I did not understand that line.")
    assert session.refused == 2
    assert "Got it: task" in await said(session, out, "\ufeff/video a cat with a bom")
    assert "Got it: task" in await said(session, out, "\t/video\ttab cat")
    assert session.refused == 2


async def test_two_dashes_end_the_options(
    console: tuple[Engine, ConsoleSession, io.StringIO],
) -> None:
    engine, session, out = console
    await session.handle("/video -- a cat")
    await session.handle("/video a cat -- --ar 9:16")
    tasks = [await engine.ledger.get(ref) for ref in session.started]
    prompts = sorted(t.request.prompt for t in tasks if t is not None)
    assert prompts == ["a cat", "a cat --ar 9:16"]


async def test_a_refused_request_deletes_the_copy_of_its_media_at_once(
    console: tuple[Engine, ConsoleSession, io.StringIO], tmp_path: Path
) -> None:
    _, session, out = console
    Image.new("RGB", (40, 30), "red").save(tmp_path / "cat.png")
    answer = await said(session, out, f"/video wave --image {tmp_path}/cat.png --duration 7")
    assert "not 7" in answer
    assert media_files(tmp_path) == []
    assert "Got it: task" in await said(session, out, f"/video wave --image {tmp_path}/cat.png")
    assert len(media_files(tmp_path)) == 1  # an accepted request's media is kept for its task
