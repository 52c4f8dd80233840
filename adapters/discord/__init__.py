"""The Discord adapter (discord.py)."""

import discord

# The bot never joins a voice channel: discord.py's start-up warnings that voice libraries
# (PyNaCl, davey) are missing would only puzzle an operator reading the log.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False
