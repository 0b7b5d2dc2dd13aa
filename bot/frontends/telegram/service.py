"""Builds and runs the python-telegram-bot Application inside our event loop."""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import TYPE_CHECKING

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeDefault,
)
from telegram.ext import Application

from bot.commands.spec import Access, Command
from bot.frontends.telegram.frontend import TelegramFrontEnd
from bot.frontends.telegram.handlers import TelegramHandlers
from bot.frontends.telegram.limiter import CountingRateLimiter, rate_for
from bot.frontends.telegram.request import CountingRequest
from bot.i18n import LANGS, t
from bot.jobs.budget import Budget

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("pelukis.telegram")
UPDATES = ["message", "callback_query"]


class TelegramService:
    """``await start()`` initialises the bot, plugs it into the app and starts receiving;
    ``await stop()`` undoes it. The app's dispatcher is started by the caller."""

    def __init__(self, app: App, token: str):
        self.app = app
        cfg = app.config.telegram
        builder = Application.builder().token(token)
        if cfg.base_url:
            builder = builder.base_url(cfg.base_url)
        if cfg.base_file_url:
            builder = builder.base_file_url(cfg.base_file_url)
        # every call to a chat is counted in its budget; paced to Telegram's limits
        # unless rate_limit is off (a local test server)
        self.budget = Budget(rate_for(cfg.group_messages_per_min))
        builder = builder.rate_limiter(CountingRateLimiter(
            self.budget, group_per_min=cfg.group_messages_per_min, pace=cfg.rate_limit))
        self.application = (
            builder.concurrent_updates(8)  # a slow translation doesn't hold up the others
            .get_updates_read_timeout(cfg.poll_timeout_s + 10)
            .request(CountingRequest())  # after: PTB refuses any request option set later
            .build()
        )
        self.frontend = TelegramFrontEnd(
            self.application.bot, cfg.edit_interval_s,
            budget=self.budget if cfg.status == "budget" else None,
            settle_s=cfg.status_delay_s, shared_interval_s=cfg.shared_edit_interval_s)
        self.handlers = TelegramHandlers(app.commands, app.board, app.config.bot.language)
        self.handlers.install(self.application)
        # The webhook path is secret but must not be the token (it would show in logs).
        self._path = hashlib.sha256(token.encode()).hexdigest()[:24]
        self._secret = secrets.token_urlsafe(24)

    async def initialize(self) -> None:
        """Log in (getMe). Before the dispatcher starts, so resumed jobs can be sent."""
        await self.application.initialize()
        log.info("telegram: logged in as @%s", self.application.bot.username)

    async def start(self) -> None:
        cfg = self.app.config.telegram
        await self.application.start()
        await self._set_commands()
        updater = self.application.updater
        if cfg.webhook_url:
            url = cfg.webhook_url.rstrip("/") + "/" + self._path
            await updater.start_webhook(
                listen=cfg.webhook_listen, port=cfg.webhook_port, url_path=self._path,
                webhook_url=url, secret_token=self._secret, allowed_updates=UPDATES,
            )
        else:
            await updater.start_polling(timeout=cfg.poll_timeout_s, allowed_updates=UPDATES,
                                        bootstrap_retries=-1)

    async def _set_commands(self) -> None:
        bot = self.application.bot
        try:
            for scope, code, commands in menus(self.app.commands.specs):
                await bot.set_my_commands(commands, scope=scope, language_code=code)
        except Exception:
            log.warning("telegram: could not set the command menu", exc_info=True)

    async def stop_receiving(self) -> None:
        """No new updates (shutdown); sending and editing still work until ``stop``."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self) -> None:
        application = self.application
        await self.stop_receiving()
        if application.running:
            await application.stop()
        await application.shutdown()


def menus(specs: tuple[Command, ...]) -> list[tuple[BotCommandScope, str | None,
                                                    list[BotCommand]]]:
    """(scope, language, commands) for ``setMyCommands``, from the command specs:
    everyone's menu, and the group admins' one, which adds the moderator commands."""
    everyone = [s for s in specs if s.in_menu]
    admins = [s for s in specs if s.in_menu or s.access is not Access.ANYONE]
    found = []
    for scope, chosen in ((BotCommandScopeDefault(), everyone),
                          (BotCommandScopeAllChatAdministrators(), admins)):
        for lang in LANGS:
            commands = [BotCommand(s.name, t(lang, s.description_key)) for s in chosen]
            found.append((scope, None if lang == "en" else lang, commands))
    return found
