"""`VIDEOBOT_PROVIDER=google videobot demo`, scripted: the console against the built-in
simulator speaking Google's Interactions API (Files API upload for the clip, inline image),
ending in decodable MP4s, and a safety refusal shown in the model's words."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

from adapters.simulator.mp4 import render_mp4
from tests.test_cli import videobot


def test_the_scripted_demo_on_google_makes_videos(tmp_path: Path) -> None:
    Image.new("RGB", (80, 60), (10, 120, 200)).save(tmp_path / "cat.png")
    (tmp_path / "clip.mp4").write_bytes(render_mp4("source clip", "9:16", 3, 120))
    script = "\n".join(
        [
            "/video a paper boat on a river --ar 9:16 --duration 10",
            "/video make the cat wave --image ./cat.png",
            "/video turn it into a watercolour --video ./clip.mp4",
            "/video something forbidden",
        ]
    )
    result = videobot(["demo"], tmp_path, script + "\n", {"VIDEOBOT_PROVIDER": "google"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("✅ Done") == 3
    assert "against the content policy" in result.stdout  # the model's own words
    videos = {v.name.split("-")[2]: v for v in (tmp_path / "videobot-output").glob("*.mp4")}
    assert len(videos) == 3
    shapes = {}
    for name, path in videos.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            shapes[name] = (stream.height > stream.width, round(container.duration / 1e6))
    assert shapes == {"a": (True, 10), "make": (False, 8), "turn": (True, 3)}
    assert "Traceback" not in result.stderr


def test_the_scripted_demo_on_vertex_needs_no_key_of_yours(tmp_path: Path) -> None:
    Image.new("RGB", (80, 60), (10, 120, 200)).save(tmp_path / "cat.png")
    script = "\n".join(
        [
            "/video a lighthouse in a storm --res 1080p --duration 3",
            "/video make the cat wave --image ./cat.png --duration 15",
        ]
    )
    result = videobot(["demo"], tmp_path, script + "\n", {"VIDEOBOT_PROVIDER": "vertex"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("✅ Done") == 2
    durations = []
    for path in (tmp_path / "videobot-output").glob("*.mp4"):
        with av.open(str(path)) as container:
            durations.append(round(container.duration / 1e6))
    assert sorted(durations) == [3, 15]  # Vertex's 1.2 model: 3 to 15 s
    key = tmp_path / "data" / "demo-vertex-key.json"
    assert key.stat().st_mode & 0o077 == 0  # the throwaway key is the user's alone
    assert "PRIVATE KEY" not in result.stdout + result.stderr
