"""The help every platform shows for `/video help`: the grammar, examples and the task verbs,
written from the provider profile so it never offers a duration or ratio that would be refused."""

from __future__ import annotations

from bot.domain import Profile
from bot.messages import either


def help_text(profile: Profile, prefix: str = "/video", task_prefix: str | None = None) -> str:
    """The grammar with examples. `task_prefix` is where the task verbs live when a platform
    puts them under another command (Discord: `/videobot status <ref>`)."""
    verbs = task_prefix or prefix
    durations = either([str(d) for d in profile.durations])
    return f"""\
{prefix} turns a description (and optionally images or a clip) into a short video.

  {prefix} <prompt> [--ar 16:9|9:16] [--duration {"|".join(map(str, profile.durations))}] \
[--mode t2v|i2v|r2v|edit]

Examples
  {prefix} a fox running through snow --ar 9:16
  {prefix} "a paper boat on a river, golden hour" --duration {profile.durations[-1]}
  {prefix} make the cat wave --image ./cat.png            (image-to-video)
  {prefix} the two of them dancing --ref a.png --ref b.png  (reference-to-video)
  {prefix} turn it into a watercolour --video ./clip.mp4   (video edit, clip at most \
{profile.edit_max_seconds:g}s)

Options
  --ar        aspect ratio: {" or ".join(profile.aspect_ratios)} (default \
{profile.default_aspect_ratio}); also portrait / landscape
  --duration  seconds: {durations} (default {profile.default_duration})
  --mode      t2v, i2v, r2v or edit; inferred from your media when left out
  Attach images or a clip instead of the flags in Slack and Discord.

Tasks
  {verbs} status <ref>    where a task is
  {verbs} cancel <ref>    stop a task that has not finished
  {verbs} retry <ref>     run an ended task again (a new, separately billed video)
  {verbs} list            your recent tasks
"""
