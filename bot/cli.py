"""The command line's shape (argparse only; the composition root acts on it)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.providers import PROVIDERS

NO_PLATFORM = (
    "No chat platform is configured. Set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN or "
    "SLACK_SIGNING_SECRET) or DISCORD_TOKEN; or try `videobot demo` for the offline console."
)


ROLE_NEEDS_DATABASE = (
    "videobot run --role {role} shares its ledger with other processes, and a SQLite ledger "
    "serves one process only. Set VIDEOBOT_DATABASE_URL to a PostgreSQL database, or run "
    "without --role."
)


DESCRIPTION = """\
videobot brings the Gemini Omni Flash video model into Slack, Discord and a console:
`/video <prompt>` answers at once, renders on the provider you chose, keeps one status message
up to date and posts the MP4 into the thread. Settings come from the environment or .env
(README: Settings); `videobot <command> --help` says more about each command."""

EPILOG = """\
first steps:
  videobot demo       a console chat against the built-in simulator (no keys needed)
  videobot doctor     check settings, ledger, video API and chat platforms
  videobot run        serve the configured platforms"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"give a number of 1 or more, not {value}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a share between 0 and 1, not {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"give a share between 0 and 1, not {value:g}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a number of seconds, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"give a number of seconds of 0 or more, not {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """An unknown option is reported by the command it was given to, with that command's
    usage (`videobot demo --foo`), not by the top level's."""

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = self.commands.get(getattr(parsed, "command", None) or "", self)
            command.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    commands: dict[str, argparse.ArgumentParser] = {}  # noqa: RUF012  (set by parser())


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default once: not when the help already says it, nor a bare None."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default is None:
            return text
        return super()._get_help_string(action)


def parser(description: str = DESCRIPTION) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="videobot",
        description=description,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="serve Slack and/or Discord (as configured)",
        description="Serve every configured chat platform and the worker until SIGTERM or "
        "Ctrl-C; live tasks resume at the next start. With VIDEOBOT_DATABASE_URL, any number of "
        "processes share the ledger, each in a role. Settings: README, Settings.",
    )
    run.add_argument(
        "--role",
        choices=["all", "intake", "worker"],
        default="all",
        help="intake: answer the platforms and record tasks; worker: move tasks (submit, "
        "poll, deliver); all: both (default). intake and worker need VIDEOBOT_DATABASE_URL",
    )
    sub.add_parser(
        "demo",
        help="offline console chat against the built-in simulator",
        description="A console chat against the built-in simulator: no keys, no charges. Type "
        "/video <prompt> or help; piped input runs as a script (exit 1 if a line was refused). "
        "Its ledger and videos are kept in videobot-data/ and videobot-output/.",
    )
    sim = sub.add_parser(
        "simulate",
        help="run the upstream simulator alone",
        description="A local stand-in for the video API: real MP4s, fault knobs, no charges.",
        formatter_class=_Defaults,
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=8765, help="port to listen on")
    sim.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    sim.add_argument(
        "--dialect",
        default="auto",
        choices=["auto", *PROVIDERS],
        help="the provider whose wire format to speak (auto: both published gateway dialects)",
    )
    seconds, share = _seconds, _share
    sim.add_argument("--render-seconds", type=seconds, default=8.0, help="how long a render takes")
    sim.add_argument("--queue-seconds", type=seconds, default=1.0, help="time queued before it")
    sim.add_argument("--fail-rate", type=share, default=0.0, help="share of renders that fail")
    sim.add_argument(
        "--never-finish-rate", type=share, default=0.0, help="share of renders that never end"
    )
    sim.add_argument("--rate-429", type=share, default=0.0, help="share of requests answered 429")
    sim.add_argument("--rate-500", type=share, default=0.0, help="share of requests answered 500")
    sim.add_argument("--latency", type=seconds, default=0.0, help="seconds added to every answer")
    sim.add_argument(
        "--submit-latency",
        type=seconds,
        default=0.0,
        help="seconds a submit waits after creating its task (clients may time out)",
    )
    sim.add_argument(
        "--drop-after-submit",
        type=share,
        default=0.0,
        help="share of submits that create the task, then drop the connection",
    )
    sim.add_argument(
        "--error-after-submit",
        type=share,
        default=0.0,
        help="share of submits that create the task, then answer 500",
    )
    sim.add_argument(
        "--no-idempotency", action="store_true", help="ignore Idempotency-Key (resends duplicate)"
    )
    sim.add_argument("--video-height", type=_positive, default=360, help="height of the MP4s")
    sim.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed for repeatable faults (default: a new one each run)",
    )
    sync = sub.add_parser(
        "discord-sync",
        help="register the Discord commands (to DISCORD_GUILD_ID; --global for every server)",
    )
    sync.add_argument(
        "--global", dest="global_", action="store_true", help="sync globally (takes up to an hour)"
    )
    sub.add_parser(
        "invite",
        help="print the Discord invite URL (needs DISCORD_TOKEN)",
        description="Log in to Discord with DISCORD_TOKEN and print the URL that adds the bot "
        "to a server with the permissions it needs.",
    )
    move = sub.add_parser(
        "migrate-ledger",
        help="copy the SQLite ledger into PostgreSQL (VIDEOBOT_DATABASE_URL)",
        description="Copy every task of a SQLite ledger, with its history and spending, and its "
        "budgets into the PostgreSQL "
        "ledger. Stop the videobot serving the file first; running it again copies nothing twice.",
    )
    move.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="the SQLite ledger (default: VIDEOBOT_DB, or videobot.db in VIDEOBOT_DATA_DIR)",
    )
    doctor = sub.add_parser("doctor", help="check settings, ledger, video API and chat platforms")
    doctor.add_argument(
        "--offline", action="store_true", help="settings and ledger only (for health checks)"
    )
    tasks_p = sub.add_parser(
        "tasks",
        help="the ledger: list, show one task's history, or cancel one",
        description="videobot tasks [list] [filters] | tasks show REF | tasks cancel REF",
    )
    tasks_p.add_argument("action", nargs="?", choices=["list", "show", "cancel"], default="list")
    tasks_p.add_argument("ref", nargs="?", help="task reference (for show and cancel)")
    tasks_p.add_argument("--json", action="store_true", help="one JSON object per line")
    tasks_p.add_argument(
        "--state", action="append", help="only this state, as `list` shows it (repeatable)"
    )
    tasks_p.add_argument("--user", help="only this requester (platform user id)")
    tasks_p.add_argument("--since", help="only tasks created since: 2h, 30m, 7d or an ISO date")
    tasks_p.add_argument("--limit", type=_positive, default=50, help="at most this many rows")
    usage_p = sub.add_parser(
        "usage",
        help="what was spent: by user, workspace, channel, day or provider",
        description="videobot usage [--by user|workspace|channel|day|provider] [--since 7d] "
        "[--json|--csv]: spend since the start of this month (UTC) unless --since says",
    )
    usage_p.add_argument(
        "--by", choices=["user", "workspace", "channel", "day", "provider"], default="user"
    )
    usage_p.add_argument("--since", help="spend since: 2h, 7d or an ISO date (default: this month)")
    form = usage_p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object per line")
    form.add_argument("--csv", action="store_true", help="CSV with a header row")
    parser.commands = dict(sub._name_parser_map)
    return parser


def invalid_settings(err: ValidationError) -> str:
    """Which settings are invalid and why, one per line, named as the environment names them."""
    lines = ["videobot cannot start: these settings are invalid:"]
    for problem in err.errors():
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["loc"]:
            name = env_name(str(problem["loc"][0]))
            lines.append(f"  {name}: {message.removeprefix(name + ': ')}")
        else:  # a rule across settings names them itself
            lines.append(f"  {message}")
    return "\n".join(lines)


def env_name(field: str) -> str:
    """The environment variable a Settings field is read from (`VIDEOBOT_HTTP_TIMEOUT`)."""
    from bot.config import Settings  # noqa: PLC0415 (the CLI's shape needs no settings)

    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else field.upper()
