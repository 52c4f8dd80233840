"""The app commands videobot registers on Discord: `/video` with the choices and attachment
options the chosen provider's profile offers, `/videobot status|cancel|retry|list|help`, and the
"Animate with videobot" message menu."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot import commands
from bot.checks import offered_modes
from bot.domain import Mode, Profile
from bot.errors import CommandError

if TYPE_CHECKING:
    from adapters.discord.client import VideoBot


def add_commands(tree: app_commands.CommandTree[Any], profile: Profile, bot: VideoBot) -> None:
    """`/video` (choices from the provider profile), `/videobot ...`, the message menu."""
    video_command = _video_command(profile, bot)

    group = app_commands.Group(name="videobot", description="Your videobot tasks")

    @group.command(name="status", description="Where a task is")
    @app_commands.describe(ref="The task reference, e.g. 7KQ2MX")
    async def status(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "status", ref)

    @group.command(name="cancel", description="Stop a task that has not finished")
    @app_commands.describe(ref="The task reference")
    async def cancel(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "cancel", ref)

    @group.command(name="retry", description="Run an ended task again (a new, billed video)")
    @app_commands.describe(ref="The task reference")
    async def retry(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "retry", ref)

    @group.command(name="list", description="Your recent tasks")
    async def list_(interaction: discord.Interaction) -> None:
        await bot.get_handlers().task_verb(interaction, "list")

    @group.command(name="usage", description="What you have spent today and this month")
    @app_commands.describe(everyone="Everyone's spending this month (admins only)")
    async def usage(interaction: discord.Interaction, everyone: bool = False) -> None:
        verb = "usage all" if everyone else "usage"
        await bot.get_handlers().task_verb(interaction, verb)

    @group.command(name="help", description="How to use videobot")
    async def help_(interaction: discord.Interaction) -> None:
        await bot.get_handlers().task_verb(interaction, "help")

    @app_commands.context_menu(name="Animate with videobot")
    async def animate(interaction: discord.Interaction, message: discord.Message) -> None:
        await bot.get_handlers().animate(interaction, message)

    tree.add_command(video_command)
    tree.add_command(group)
    tree.add_command(animate)


_DESCRIPTIONS = {
    "prompt": "What the video shows",
    "mode": "Inferred from the attachments when left out",
    "aspect_ratio": "Landscape or portrait",
    "duration": "Seconds",
    "resolution": "Default: {default}",
    "image": "An image to animate (image-to-video)",
    "ref1": "A reference image (reference-to-video)",
    "ref2": "Another reference image",
    "ref3": "Another reference image",
    "video": "A clip to edit (video edit)",
}


def read_form(
    prompt: str, chosen: Mapping[str, object], files: dict[str, discord.Attachment]
) -> commands.VideoCommand:
    """/video's form as one command: the prompt is read by the grammar every chat uses (so
    `--ar 9:16` typed in it works as the help says), the options fill in the rest, and each
    attachment keeps the option it came in (a ref makes reference-to-video)."""
    typed = commands.parse_prompt(prompt)
    if typed.images or typed.refs or typed.video:
        raise CommandError(
            "On Discord, attach files in /video's image, ref or video options instead of "
            "naming them with --image, --ref or --video."
        )
    written = {
        "mode": typed.mode,
        "ar": typed.aspect_ratio,
        "duration": typed.duration,
        "res": typed.resolution,
    }
    option = {"mode": "mode", "ar": "aspect_ratio", "duration": "duration", "res": "resolution"}
    for key, value in chosen.items():
        if value is not None and written[key] is not None and str(written[key]) != str(value):
            raise CommandError(
                f"The {option[key]} was given twice, as --{key} {written[key]} in the prompt and "
                f"as the {option[key]} option ({value}); give it once."
            )
    mode = chosen["mode"]
    duration = chosen["duration"]
    return commands.VideoCommand(
        prompt=typed.prompt,
        mode=Mode(str(mode)) if mode else typed.mode,
        aspect_ratio=str(chosen["ar"]) if chosen["ar"] else typed.aspect_ratio,
        duration=duration if isinstance(duration, int) else typed.duration,
        resolution=str(chosen["res"]) if chosen["res"] else typed.resolution,
        images=tuple(file.filename for slot, file in files.items() if slot == "image"),
        refs=tuple(file.filename for slot, file in files.items() if slot.startswith("ref")),
        video=files["video"].filename if "video" in files else None,
    )


def _video_command(profile: Profile, bot: VideoBot) -> app_commands.Command[Any, ..., None]:
    """`/video` with the options the provider offers: a choice of its durations, ratios, modes
    and resolutions, and only the attachments its modes take."""

    async def make_video(  # noqa: PLR0917  (discord.py maps positional parameters to options)
        interaction: discord.Interaction,
        prompt: str,
        mode: str | None = None,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        image: discord.Attachment | None = None,
        ref1: discord.Attachment | None = None,
        ref2: discord.Attachment | None = None,
        ref3: discord.Attachment | None = None,
        video: discord.Attachment | None = None,
    ) -> None:
        handlers = bot.get_handlers()
        slots = {"image": image, "ref1": ref1, "ref2": ref2, "ref3": ref3, "video": video}
        files = {slot: file for slot, file in slots.items() if file is not None}
        chosen = {"mode": mode, "ar": aspect_ratio, "duration": duration, "res": resolution}
        try:
            command = read_form(prompt, chosen, files)
        except CommandError as err:  # free: nothing was downloaded or recorded
            if await handlers.defer(interaction):
                await handlers.answer(interaction, str(err), None)
            return
        await handlers.video_command(interaction, command, list(files.values()), list(files))

    # A provider that edits only its own videos takes no clip here (Edit is a button).
    modes = [m for m in offered_modes(profile) if m is not Mode.EDIT or profile.clip_uploads]
    unused = {
        "mode": len(modes) < 2,
        "resolution": len(profile.resolutions) < 2,
        "image": Mode.I2V not in modes,
        "ref1": Mode.R2V not in modes,
        "ref2": Mode.R2V not in modes,
        "ref3": Mode.R2V not in modes,
        "video": Mode.EDIT not in modes or not profile.clip_uploads,
    }
    # Discord's own form refuses a prompt over the core's limit (a string option takes at most
    # 6000). Set before the command is built: its options are read from the signature.
    cap = min(profile.prompt_max_chars, 6000)
    make_video.__annotations__["prompt"] = app_commands.Range[str, None, cap]
    signature = inspect.signature(make_video)
    kept = [p for p in signature.parameters.values() if not unused.get(p.name)]
    # An option the provider cannot use is left out of the form rather than refused after.
    make_video.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    choices: dict[str, list[app_commands.Choice[Any]]] = {
        "mode": [app_commands.Choice(name=m.label, value=m.value) for m in modes],
        "aspect_ratio": [app_commands.Choice(name=r, value=r) for r in profile.aspect_ratios],
        "duration": [app_commands.Choice(name=f"{d} s", value=d) for d in profile.durations],
        "resolution": [app_commands.Choice(name=r, value=r) for r in profile.resolutions],
    }
    described = {
        name: text.format(default=profile.default_resolution)
        for name, text in _DESCRIPTIONS.items()
        if not unused.get(name)
    }
    callback = app_commands.describe(**described)(make_video)
    callback = app_commands.choices(
        **{name: listed for name, listed in choices.items() if not unused.get(name)}
    )(callback)
    return app_commands.command(name="video", description="Make a short video from a prompt")(
        callback
    )
