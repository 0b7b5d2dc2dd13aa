"""Every chat command, in the order menus and ``/help`` show them.

Adding a command: write its handler and ``Command`` spec in a module of ``bot/commands/``,
list it here, and add its strings (``cmd_<name>``, ``help_<name>``, ``opt_<name>_<option>``)
to ``bot/i18n/en.py`` and ``id.py``. The Telegram menu, the Discord tree, ``/help`` and the
console's completion follow; ``tests/test_command_parity.py`` fails if a string is missing.
"""

from __future__ import annotations

from bot.commands.generate import GENERATE
from bot.commands.help import HELP
from bot.commands.pictures import UPSCALE, VARIATION
from bot.commands.queue import CANCEL, QUEUE
from bot.commands.safety import SAFETY
from bot.commands.settings import CFG, LANG, NEGATIVE, RAW, SEED, SETTINGS, STEPS
from bot.commands.spec import Command
from bot.commands.styles import STYLE

COMMANDS: tuple[Command, ...] = (
    GENERATE, VARIATION, UPSCALE, STYLE, SEED, CFG, STEPS, NEGATIVE, LANG, RAW, SETTINGS,
    QUEUE, CANCEL, SAFETY, HELP,
)
