"""Telegram updates → command requests; replies → messages. No command logic lives here:
who may run a command is the spec's business, asked of Telegram only when it matters."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.commands.registry import Commands, read_command
from bot.frontends.base import Reply
from bot.frontends.telegram.frontend import (
    PLATFORM,
    keyboard,
    placeholder_png,
    with_retry,
)
from bot.frontends.telegram.pictures import fetcher
from bot.i18n import lang_from_locale, t
from bot.jobs.status import StatusBoard
from bot.models import Incoming

log = logging.getLogger("pelukis.telegram")

ADMIN_TTL_S = 60.0


class TelegramHandlers:
    """The Application's handlers: one for commands, one for private text, one for
    buttons, and the one error handler."""

    def __init__(self, commands: Commands, board: StatusBoard, default_lang: str):
        self.commands = commands
        self.board = board
        self.default_lang = default_lang
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        placeholder_png()  # made once, at start

    def install(self, application: Application) -> None:
        application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        application.add_handler(MessageHandler(
            (filters.PHOTO | filters.Document.IMAGE) & filters.CaptionRegex(r"^\s*/"),
            self.on_picture))
        application.add_handler(MessageHandler(
            filters.TEXT & filters.ChatType.PRIVATE & ~filters.COMMAND, self.on_text))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_error_handler(self.on_error)

    # -- building core messages ---------------------------------------------------------
    async def _is_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Asked of Telegram (chat member status), cached for a minute."""
        chat, user = update.effective_chat, update.effective_user
        if chat.type == ChatType.PRIVATE:
            return True
        key = (chat.id, user.id)
        cached = self._admins.get(key)
        if cached and time.monotonic() - cached[0] < ADMIN_TTL_S:
            return cached[1]
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
            admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except Exception:
            log.warning("could not ask Telegram whether %s moderates %s", user.id, chat.id)
            admin = False
        self._admins[key] = (time.monotonic(), admin)
        return admin

    def _incoming(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, *,
                  message_id: int | None = None, pictures: bool = False) -> Incoming:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        fetch = fetcher(context.bot, message, self.commands.config.limits) if pictures \
            else None
        return Incoming(
            platform=PLATFORM,
            chat_id=str(chat.id),
            user_id=str(user.id),
            user_name=user.username or user.first_name or str(user.id),
            text=text,
            message_id=str(message_id if message_id is not None else message.message_id),
            private=chat.type == ChatType.PRIVATE,
            ask_moderator=lambda: self._is_admin(update, context),
            locale=user.language_code,
            request_id=f"u{update.update_id}",
            fetch_picture=fetch,
        )

    async def _send(self, update: Update, replies: list[Reply], reply_to: int) -> None:
        chat = update.effective_chat
        for reply in replies:
            if reply.file_path:  # the original PNG as a document: Telegram recompresses photos
                data = await asyncio.to_thread(Path(reply.file_path).read_bytes)
                await with_retry(chat.send_document, data, filename=reply.file_name,
                                 reply_to_message_id=reply_to,
                                 allow_sending_without_reply=True)
            elif reply.job_id is None:
                await with_retry(
                    chat.send_message, reply.text, reply_markup=keyboard(reply.buttons),
                    reply_to_message_id=reply_to, allow_sending_without_reply=True,
                )
            else:  # a queued job: the board answers it, as the chat's budget allows
                await self.board.acknowledge(reply.job_id, reply.text)

    # -- handlers -------------------------------------------------------------------------
    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A /command, in a private chat or a group (``/cmd@ThisBot`` there)."""
        message = update.effective_message
        if message is None or update.effective_user is None or not message.text:
            return
        command = read_command(message.text)
        if command is not None and command.mention and command.mention.lower() != \
                (context.bot.username or "").lower():
            return  # addressed to another bot in this group
        replies = await self.commands.handle(
            self._incoming(update, context, message.text, pictures=True), command)
        await self._send(update, replies, message.message_id)

    async def on_picture(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or image file whose caption is a /command: the command, with it."""
        message = update.effective_message
        if message is None or update.effective_user is None or not message.caption:
            return
        command = read_command(message.caption)
        if command is None or (command.mention and command.mention.lower() !=
                               (context.bot.username or "").lower()):
            return
        replies = await self.commands.handle(
            self._incoming(update, context, message.caption, pictures=True), command)
        await self._send(update, replies, message.message_id)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text in a private chat: a hint on how to ask for a picture."""
        message = update.effective_message
        replies = await self.commands.handle(self._incoming(update, context, message.text))
        await self._send(update, replies, message.message_id)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button under an image or a style list. Callback data refers to stored state."""
        query = update.callback_query
        await query.answer()  # first: stops the button's spinner
        message = query.message
        if message is None:
            return
        msg = self._incoming(update, context, "", message_id=message.message_id)
        replies = await self.commands.press(msg, query.data or "")
        for reply in replies:
            if reply.delete_message:
                await with_retry(message.delete)
        await self._send(update, [r for r in replies if not r.delete_message],
                         message.message_id)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: log first, then tell the user something went wrong."""
        log.error("error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        lang = lang_from_locale(user.language_code if user else None) \
            or self.default_lang
        try:
            await update.effective_chat.send_message(t(lang, "error_generic"))
        except Exception:
            log.warning("could not tell the chat about the error", exc_info=True)
