"""Media intake under hostile input: bombs, huge images, metadata, polyglots, long or forged
clips, web pages dressed as images. Every refusal is a MediaError that says what was wrong and
what is accepted; anything else intake is given yields a MediaRef to cleaned bytes."""

from __future__ import annotations

import asyncio
import io
import re
import struct
import zlib
from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from adapters.media.intake import MAX_PIXELS, MediaIntake, clip_seconds
from adapters.media.names import display_name
from adapters.simulator.mp4 import render_mp4
from bot.domain import MediaRef, Profile
from bot.errors import MediaError
from bot.media import ACCEPTED

IMAGES_ACCEPTED = "PNG, JPEG or WebP"


@pytest.fixture
def intake(tmp_path: Path) -> MediaIntake:
    return MediaIntake(tmp_path / "media", Profile())


def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 32), mode: str = "RGB", **save: object
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0).save(out, fmt, **save)
    return out.getvalue()


def clip(seconds: int) -> bytes:
    return render_mp4("intake test", "16:9", seconds, height=64, fps=4)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a tiny (wrong) body: a bomb's shape."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def stored(ref: MediaRef) -> bytes:
    return Path(ref.path).read_bytes()


async def refused(intake: MediaIntake, data: bytes, name: str) -> str:
    with pytest.raises(MediaError) as caught:
        await intake.from_bytes(data, name)
    return str(caught.value)


# -- what is accepted ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
async def test_images_are_accepted_and_stored_by_content(
    intake: MediaIntake, fmt: str, mime: str, ext: str
) -> None:
    ref = await intake.from_bytes(image_bytes(fmt), f"photo.{ext}")
    assert (ref.kind, ref.mime) == ("image", mime)
    assert ref.path.endswith(f"{ref.sha256}.{ext}") and ref.size == len(stored(ref))
    with Image.open(io.BytesIO(stored(ref))) as image:
        assert image.format == fmt and image.size == (64, 32)


async def test_the_name_is_never_trusted(intake: MediaIntake) -> None:
    ref = await intake.from_bytes(image_bytes("PNG"), "holiday.mp4")
    assert (ref.kind, ref.mime) == ("image", "image/png") and ref.path.endswith(".png")
    message = await refused(intake, b"<html><body>hi</body></html>", "cat.png")
    assert "web page" in message and ACCEPTED in message


async def test_a_clip_within_the_limit_is_accepted(intake: MediaIntake) -> None:
    ref = await intake.from_bytes(clip(6), "clip.mov")
    assert (ref.kind, ref.mime) == ("video", "video/mp4")
    assert 5.9 < clip_seconds(stored(ref)) < 6.1


async def test_a_clip_of_exactly_ten_seconds_is_accepted(intake: MediaIntake) -> None:
    ref = await intake.from_bytes(clip(10), "ten.mp4")
    assert ref.kind == "video"


# -- metadata -----------------------------------------------------------------------------------
def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to view
    exif[0x010F] = "SecretCamMaker"
    exif[0x8825] = {2: (48.0, 51.0, 29.0), 1: "N"}  # GPS IFD: latitude
    return exif


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_exif_is_removed_and_orientation_applied(intake: MediaIntake, fmt: str) -> None:
    save: dict[str, object] = {"exif": _exif().tobytes()}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "secret-text-chunk")
        save["pnginfo"] = info
    if fmt == "JPEG":
        save["comment"] = b"secret-jpeg-comment"
    if fmt in ("JPEG", "WEBP"):
        save["xmp"] = b"<x:xmpmeta>secret-xmp-packet</x:xmpmeta>"
    original = image_bytes(fmt, **save)
    assert b"SecretCamMaker" in original  # the test would notice if nothing was there
    assert fmt == "PNG" or b"secret-xmp" in original
    ref = await intake.from_bytes(original, "phone-photo")
    data = stored(ref)
    for secret in (
        b"SecretCamMaker",
        b"secret-text-chunk",
        b"secret-jpeg-comment",
        b"secret-xmp",
        b"Exif\x00",
    ):
        assert secret not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
        assert not {"exif", "comment", "xmp", "XML:com.adobe.xmp"} & set(image.info)
        assert image.size == (32, 64)  # turned upright before the EXIF went


async def test_clip_metadata_is_removed(intake: MediaIntake) -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        container.metadata["title"] = "secret-title-of-clip"
        container.metadata["comment"] = "secret-comment-of-clip"
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.metadata["handler_name"] = "secret-handler"
        for i in range(8):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 64), (i * 20, 0, 0)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    original = out.getvalue()
    assert b"secret-title-of-clip" in original
    data = stored(await intake.from_bytes(original + b"<script>trailer</script>", "m.mp4"))
    for secret in (
        b"secret-title-of-clip",
        b"secret-comment-of-clip",
        b"secret-handler",
        b"<script>",
    ):
        assert secret not in data
    assert 1.9 < clip_seconds(data) < 2.1


# -- bombs and sizes ----------------------------------------------------------------------------
async def test_a_decompression_bomb_is_refused(intake: MediaIntake) -> None:
    bomb = png_header_only(20_000, 20_000)  # 400 megapixels claimed in ~1 KB
    assert len(bomb) < 2000
    message = await refused(intake, bomb, "bomb.png")
    assert "pixels" in message and IMAGES_ACCEPTED in message


async def test_a_real_small_file_with_too_many_pixels_is_refused(intake: MediaIntake) -> None:
    data = image_bytes("PNG", size=(8000, 6000), mode="1")  # 48 MP, a few KB compressed
    assert len(data) < 100_000
    message = await refused(intake, data, "huge.png")
    assert "8000x6000 pixels" in message and "40 megapixels" in message
    assert MAX_PIXELS < 8000 * 6000


async def test_an_image_just_under_the_pixel_cap_is_accepted(intake: MediaIntake) -> None:
    ref = await intake.from_bytes(image_bytes("PNG", size=(2000, 1000), mode="L"), "ok.png")
    assert ref.kind == "image"


async def test_oversized_bytes_are_refused_before_decoding(intake: MediaIntake) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024)
    message = await refused(intake, big, "big.png")
    assert "at most 20 MB" in message


async def test_oversized_files_on_disk_are_refused_from_their_size(
    intake: MediaIntake, tmp_path: Path
) -> None:
    path = tmp_path / "huge.mp4"
    with path.open("wb") as file:  # sparse: 101 MB without writing them
        file.write(b"\x00\x00\x00\x18ftypmp42")
        file.truncate(101 * 1024 * 1024)
    with pytest.raises(MediaError, match="larger than 100 MB"):
        await intake.from_path(path)


async def test_missing_paths_and_directories_are_refused(
    intake: MediaIntake, tmp_path: Path
) -> None:
    for path in (tmp_path / "nope.png", tmp_path):
        with pytest.raises(MediaError, match="Give the path of PNG"):
            await intake.from_path(path)


# -- polyglots and impostors --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>", "cannot be decoded"),
        (image_bytes("PNG")[:60], "cannot be decoded"),  # truncated
        (b"\xff\xd8\xff\xe0" + b"GIF89a and then some text", "cannot be decoded"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 garbage garbage", "cannot be decoded"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4, "cannot be read"),
        (clip(6)[:3000], "cannot be read"),  # moov is at the end: a cut clip is unreadable
    ],
)
async def test_magic_numbers_on_garbage_are_refused(
    intake: MediaIntake, data: bytes, words: str
) -> None:
    message = await refused(intake, data, "sneaky")
    assert words in message
    assert IMAGES_ACCEPTED in message or "MP4 clip" in message


async def test_data_appended_to_a_real_image_is_not_kept(intake: MediaIntake) -> None:
    trailer = b"PK\x03\x04" + b"<html><script>evil()</script></html>" * 20
    ref = await intake.from_bytes(image_bytes("PNG") + trailer, "polyglot.png")
    assert b"evil()" not in stored(ref) and b"PK\x03\x04" not in stored(ref)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "(empty)"),
        (b"just some text\n", "not something I can use"),
        (b"<!DOCTYPE html><html><body>login</body></html>", "web page"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', "SVG"),
        (b"GIF89a" + bytes(40), "GIF"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(40), "HEIC/AVIF photo"),  # sniffs as MP4
        (b"\x00\x00\x00\x1cftypavif" + bytes(40), "HEIC/AVIF photo"),
        (b"%PDF-1.7\n", "not something I can use"),
    ],
)
async def test_other_kinds_are_refused_naming_what_is_accepted(
    intake: MediaIntake, data: bytes, words: str
) -> None:
    message = await refused(intake, data, "upload")
    assert words in message or "cannot be read" in message
    assert ACCEPTED in message or "MP4 clip" in message


# -- clip length --------------------------------------------------------------------------------
async def test_a_twelve_second_clip_is_refused_for_edit(intake: MediaIntake) -> None:
    message = await refused(intake, clip(12), "long.mp4")
    assert "12.0 s long" in message and "at most 10 s" in message and "Trim it" in message


async def test_the_limit_comes_from_the_profile(tmp_path: Path) -> None:
    strict = MediaIntake(tmp_path, Profile(edit_max_seconds=5))
    with pytest.raises(MediaError, match="at most 5 s"):
        await strict.from_bytes(clip(6), "six.mp4")


def _forge_durations(data: bytes) -> bytes:
    """Rewrite every mvhd/mdhd/tkhd duration to 1 tick: headers that lie about the length."""
    forged = bytearray(data)
    for tag in (b"mvhd", b"mdhd", b"tkhd"):
        at = forged.find(tag)
        while at != -1:
            version = forged[at + 4]
            # version+flags, creation and modification times, then (timescale or track id)
            offset = at + 8 + (16 if version == 1 else 8) + 4
            struct.pack_into(">Q" if version == 1 else ">I", forged, offset, 1)
            at = forged.find(tag, at + 4)
    return bytes(forged)


async def test_a_clip_whose_headers_lie_about_its_length_is_still_measured(
    intake: MediaIntake,
) -> None:
    forged = _forge_durations(clip(12))
    with av.open(io.BytesIO(forged), format="mov") as container:
        assert (container.duration or 0) < 1_000_000  # the header says under a second
    message = await refused(intake, forged, "liar.mp4")
    assert "12.0 s long" in message


async def test_a_clip_without_video_is_refused(intake: MediaIntake) -> None:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=24000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=1024)
        frame.planes[0].update(bytes(2048))
        frame.sample_rate = 24000
        for _ in range(10):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    message = await refused(intake, out.getvalue(), "voice.m4a")
    assert "no video track" in message and "MP4 clip" in message


# -- names echoed back --------------------------------------------------------------------------
async def test_file_names_cannot_inject_mentions_or_markup(intake: MediaIntake) -> None:
    message = await refused(intake, b"nope", "<!everyone> @here\n`x`.png")
    for bad in ("<!everyone>", "@here", "\n", "`"):
        assert bad not in message
    assert display_name("../../etc/passwd") == "passwd"
    assert len(display_name("a" * 500)) <= 60


# -- anything at all ----------------------------------------------------------------------------
_MAGICS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"RIFF\x10\x00\x00\x00WEBP",
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x14ftypqt  ",
]
_SEEDS = [image_bytes("PNG"), image_bytes("JPEG"), image_bytes("WEBP"), clip(2)]


def _mutate(seed: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    return bytes(data[: max(8, len(data) - cut)])


hostile = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda m, b: m + b, st.sampled_from(_MAGICS), st.binary(max_size=4096)),
    st.builds(
        _mutate,
        st.sampled_from(_SEEDS),
        st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12),
        st.integers(0, 4000),
    ),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=hostile, name=st.text(max_size=80))
def test_any_bytes_give_a_media_ref_or_a_media_error(
    tmp_path: Path, data: bytes, name: str
) -> None:
    intake = MediaIntake(tmp_path / "fuzz", Profile())
    try:
        ref = asyncio.run(intake.from_bytes(data, name))
    except MediaError as err:
        text = str(err)
        assert text and ("accept" in text.lower() or "send" in text.lower() or "take" in text)
        return
    assert isinstance(ref, MediaRef) and Path(ref.path).is_file()
    assert ref.size == len(Path(ref.path).read_bytes())


async def test_messages_quote_the_path_as_the_user_typed_it(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "fake.png").write_text("<html>not an image</html>")
    intake = MediaIntake(tmp_path / "media", Profile())
    typed = "pics/../pics/fake.png"
    with pytest.raises(MediaError, match=re.escape(typed)):
        await intake.from_path(str(tmp_path / typed))  # long paths keep their end
    with pytest.raises(MediaError, match=re.escape("No file at ./pics/none.png.")):
        await intake.from_path("./pics/none.png")


async def test_a_typed_path_is_quoted_back_inert(tmp_path: Path) -> None:
    intake = MediaIntake(tmp_path / "media", Profile())
    with pytest.raises(MediaError) as caught:
        await intake.from_path("./<@U0HERE>/\x1b[31mcat`*.png")
    said = str(caught.value)
    assert "No file at ./__U0HERE_/_[31mcat__.png." in said  # no mention, markup or escape
