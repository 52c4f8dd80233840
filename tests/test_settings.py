"""The README's settings table is the contract: every row starts the bot with its documented
example, every documented default is the code's default, and table and code list the same
variables."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from bot.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
_TICKED = re.compile(r"`([^`]*)`")
_TIMES = ("task_deadline", "first_poll", "poll_floor", "poll_ceiling", "status_interval")


def _rows() -> list[tuple[list[str], str, list[str]]]:
    """(names, default cell, examples) for each row of the table under `## Settings`."""
    text = README.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1]
    lines = [line for line in text.split("\n## ", 1)[0].splitlines() if line.startswith("|")]
    assert lines[0] == "| variable | default | example | meaning |", lines[0]
    rows = []
    for line in lines[2:]:
        variable, default, example, _ = (cell.strip() for cell in line.strip("|").split(" | "))
        names, examples = _TICKED.findall(variable), _TICKED.findall(example)
        assert len(names) == len(examples), f"one example per variable in: {line}"
        rows.append((names, default, examples))
    return rows


ROWS = _rows()


def _field(name: str) -> str:
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and alias.choices[0] == name:
            return field
    raise AssertionError(f"{name} is in the README but no setting reads it")


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for names, _, _ in ROWS:
        for name in names:
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_the_table_and_the_code_list_the_same_settings() -> None:
    documented = {name for names, _, _ in ROWS for name in names}
    coded = set()
    for info in Settings.model_fields.values():
        assert isinstance(info.validation_alias, AliasChoices)
        coded.add(str(info.validation_alias.choices[0]))
    assert documented - coded == set(), "documented but not read by bot/config.py"
    assert coded - documented == set(), "read by bot/config.py but missing from the README"


@pytest.mark.parametrize(("names", "examples"), [(n, e) for n, _, e in ROWS], ids=str)
def test_every_row_starts_with_its_documented_example(
    monkeypatch: pytest.MonkeyPatch, names: list[str], examples: list[str]
) -> None:
    settings = _settings(monkeypatch, dict(zip(names, examples, strict=True)))
    for name, example in zip(names, examples, strict=True):
        field = _field(name)
        assert field in settings.model_fields_set, f"{name}={example} was not read"
        if field in _TIMES:
            assert getattr(settings, field) == timedelta(seconds=float(example)), name


def test_every_example_together_starts_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {n: e for names, _, examples in ROWS for n, e in zip(names, examples, strict=True)}
    settings = _settings(monkeypatch, env)
    policy = settings.worker_policy()
    assert policy.task_deadline == timedelta(seconds=float(env["VIDEOBOT_TASK_DEADLINE"]))
    assert policy.poll_floor == timedelta(seconds=float(env["VIDEOBOT_POLL_FLOOR"]))


def test_documented_defaults_are_the_code_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = _settings(monkeypatch, {})
    for names, cell, _ in ROWS:
        values = _TICKED.findall(cell)
        if not cell.startswith("`") or len(values) < len(names):
            continue  # no default ("—", "off", "Slack"): nothing to compare
        for name, value in zip(names, values, strict=False):
            if value.startswith("$"):
                continue  # derived from another setting
            field = _field(name)
            given = _settings(monkeypatch, {name: value})
            assert getattr(given, field) == getattr(defaults, field), f"{name} default {value}"


@pytest.mark.parametrize("value", ["-5", "0", "soon", "1h"])
def test_a_time_that_is_not_positive_seconds_is_refused_plainly(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with pytest.raises(ValidationError, match="seconds"):
        _settings(monkeypatch, {"VIDEOBOT_POLL_FLOOR": value})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://user:sk-in-the-url-0042@gateway.example", "VIDEO_API_KEY"),
        ("ftp://gateway.example", "http"),
        ("not a url", "http"),
        ("https://gateway.example/?api_key=sk-in-the-url-0042", "query"),
        ("https://gateway.example/#sk-in-the-url-0042", "fragment"),
    ],
)
def test_a_video_api_url_that_cannot_work_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    # A password in the URL would be logged by the HTTP library with every request, and sent
    # as Basic auth in place of the key; the refusal itself must not print it either.
    from bot.cli import invalid_settings

    with pytest.raises(ValidationError, match=why) as refused:
        _settings(monkeypatch, {"VIDEO_API_URL": value})
    assert "sk-in-the-url" not in invalid_settings(refused.value)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"VIDEOBOT_LOG_LEVEL": "LOUD"}, "VIDEOBOT_LOG_LEVEL: give one of DEBUG, INFO"),
        ({"VIDEOBOT_DURATIONS": ","}, "VIDEOBOT_DURATIONS: give whole numbers"),
        ({"VIDEOBOT_DURATIONS": "0,6"}, "VIDEOBOT_DURATIONS: give durations of 1 second"),
        ({"VIDEOBOT_HTTP_TIMEOUT": "nan"}, "VIDEOBOT_HTTP_TIMEOUT: Input should be a finite"),
        ({"VIDEOBOT_HTTP_TIMEOUT": "0"}, "VIDEOBOT_HTTP_TIMEOUT: Input should be greater"),
        ({"VIDEOBOT_DEFAULT_DURATION": "7"}, "VIDEOBOT_DEFAULT_DURATION 7 is not one of"),
        (
            {"VIDEOBOT_DURATIONS": "4,8", "VIDEOBOT_DEFAULT_DURATION": "6"},
            "durations 4, 8 (VIDEOBOT_DURATIONS)",
        ),
        ({"VIDEOBOT_PROMPT_MAX_CHARS": "0"}, "VIDEOBOT_PROMPT_MAX_CHARS: Input should be"),
        ({"VIDEOBOT_POLL_FLOOR": "30"}, "VIDEOBOT_POLL_FLOOR (30s) is above"),
        ({"VIDEOBOT_MAX_VIDEO_MB": "0"}, "VIDEOBOT_MAX_VIDEO_MB: Input should be"),
        ({"SLACK_PORT": "99999"}, "SLACK_PORT: Input should be less than"),
        ({"VIDEOBOT_PROVIDER": "acme"}, "VIDEOBOT_PROVIDER: unknown provider 'acme'"),
    ],
)
def test_settings_that_cannot_work_together_or_at_all_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    from bot.cli import invalid_settings

    with pytest.raises(ValidationError) as refused:
        _settings(monkeypatch, env)
    assert said in invalid_settings(refused.value)


def test_the_old_name_of_the_provider_setting_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, {"VIDEOBOT_DIALECT": "toapis"})
    assert settings.provider == "toapis" and settings.profile().image_counts == (0, 1, 3)
    google = _settings(monkeypatch, {"VIDEOBOT_PROVIDER": "Google"})
    assert google.api_root == "https://generativelanguage.googleapis.com"
    assert google.profile().default_resolution == "720p"
    tuned = _settings(monkeypatch, {"VIDEOBOT_PROVIDER": "google", "VIDEOBOT_RESOLUTION": "4K"})
    assert tuned.profile().default_resolution == "4k"


def test_every_profile_value_can_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.domain import Mode

    given = _settings(
        monkeypatch,
        {
            "VIDEOBOT_PROVIDER": "fal",
            "VIDEOBOT_ASPECT_RATIOS": "9:16",
            "VIDEOBOT_MODES": "t2v,i2v",
            "VIDEOBOT_AUTH": "bearer",
            "VIDEOBOT_MEDIA": "upload",
        },
    )
    profile = given.profile()
    assert profile.aspect_ratios == ("9:16",) and profile.default_aspect_ratio == "9:16"
    assert profile.modes == frozenset({Mode.T2V, Mode.I2V})
    assert (given.auth_scheme, given.media_passing) == ("bearer", "upload")
    plain = _settings(monkeypatch, {"VIDEOBOT_PROVIDER": "fal"})
    assert (plain.auth_scheme, plain.media_passing) == ("key", "data-uri")
    with pytest.raises(ValidationError, match="some of t2v, i2v, r2v, edit"):
        _settings(monkeypatch, {"VIDEOBOT_MODES": "t2v,dance"})
