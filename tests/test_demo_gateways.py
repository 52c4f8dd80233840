"""The scripted console demo with each gateway chosen (`VIDEOBOT_PROVIDER=apimart|evolink|fal`
against the built-in simulator speaking that gateway): every mode the gateway takes ends as a
decodable MP4 of the asked shape, and what it does not take is refused with the reason. On
every provider, an image-to-video result shows the input image, however the image travelled."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from adapters.simulator.mp4 import render_mp4
from tests.frames import inset_colour, looks_like
from tests.test_cli import videobot

BLUE = (10, 120, 200)

SCRIPT = "\n".join(
    [
        "/video a paper boat on a river --ar 9:16 --duration 4",
        "/video make the cat wave --image ./cat.png",
        "/video two pets meet --ref ./cat.png --ref ./dog.png",
        "/video turn it into a watercolour --video ./clip.mp4",
        "/video oops --duration 11",
    ]
)


@pytest.mark.parametrize(
    ("provider", "made"),
    [("apimart", 4), ("evolink", 3), ("fal", 4)],
)
def test_the_demo_runs_on_each_gateway(tmp_path: Path, provider: str, made: int) -> None:
    Image.new("RGB", (80, 60), BLUE).save(tmp_path / "cat.png")
    Image.new("RGB", (80, 60), (200, 120, 10)).save(tmp_path / "dog.png")
    (tmp_path / "clip.mp4").write_bytes(render_mp4("source clip", "16:9", 4, 120))
    result = videobot(["demo"], tmp_path, SCRIPT + "\n", {"VIDEOBOT_PROVIDER": provider})
    assert result.returncode == 1, result.stderr  # "--duration 11" was refused
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert out.count("✅ Done") == made
    assert "not 11" in out  # the gateway's 3-10 s, from its profile
    videos = sorted((tmp_path / "videobot-output").glob("*.mp4"))
    assert len(videos) == made
    boat = next(v for v in videos if "paper-boat" in v.name)
    with av.open(str(boat)) as container:
        stream = container.streams.video[0]
        assert stream.height > stream.width
        assert abs(container.duration / 1_000_000 - 4) < 0.2
    # The image went up to apimart's upload route, or inline as a data: URL (evolink, fal).
    cat = next(v for v in videos if "cat-wave" in v.name)
    assert looks_like(inset_colour(cat), BLUE), inset_colour(cat)
    two = next(v for v in videos if "two-pets" in v.name)
    assert looks_like(inset_colour(two), BLUE)  # the first reference
    if provider == "evolink":
        assert "Evolink edits only videos I made: press “Edit this video”" in out
        assert not any("watercolour" in v.name for v in videos)
    else:
        edit = next(v for v in videos if "watercolour" in v.name)
        with av.open(str(edit)) as container:  # the edit follows its 4 s source clip
            assert abs(container.duration / 1_000_000 - 4) < 0.2


@pytest.mark.parametrize(
    ("provider", "side"),
    [
        ("google", 80),  # a small image travels inline
        ("google", 900),  # over 1 MiB: through the Files API, then named by its uri
        ("vertex", 80),  # inline (Vertex AI has no Files API)
    ],
)
def test_an_image_to_video_result_shows_its_input_on_google(
    tmp_path: Path, provider: str, side: int
) -> None:
    picture = Image.new("RGB", (side, side), BLUE)
    if side > 100:  # noise a PNG cannot shrink, above the solid part the inset's corner shows
        picture.paste(Image.effect_noise((side, side * 2 // 3), 90).convert("RGB"), (0, 0))
    picture.save(tmp_path / "cat.png")
    assert (side > 100) == ((tmp_path / "cat.png").stat().st_size > 1 << 20)
    extra = {"VIDEOBOT_PROVIDER": provider}
    result = videobot(["demo"], tmp_path, "/video make the cat wave --image ./cat.png\n", extra)
    assert result.returncode == 0, result.stdout + result.stderr
    (video,) = (tmp_path / "videobot-output").glob("*.mp4")
    assert looks_like(inset_colour(video), BLUE), inset_colour(video)
