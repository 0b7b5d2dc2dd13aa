"""Telegram updates → core calls; core replies → messages. No command logic lives here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.app import App
from bot.frontend import Reply
from bot.frontends.telegram.delivery import (
    PLATFORM,
    keyboard,
    placeholder_png,
    send_status_photo,
    status_ref,
    with_retry,
)
from bot.i18n import lang_from_locale, t
from bot.models import Incoming
from bot.parsing import parse_command

log = logging.getLogger("pelukis.telegram")

ADMIN_TTL_S = 60.0
# Commands whose answer depends on the user's rights in a group.
_NEEDS_RIGHTS = ("style", "gaya")


class Handlers:
    def __init__(self, app: App, on_status_sent: Callable[[str, str], None] = lambda r, t: None):
        self.app = app
        self.on_status_sent = on_status_sent  # tells the delivery side what a status shows
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        placeholder_png()  # made once, at start

    def install(self, application: Application) -> None:
        application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
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

    def _incoming(self, update: Update, text: str, *, admin: bool = False,
                  message_id: int | None = None) -> Incoming:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        return Incoming(
            platform=PLATFORM,
            chat_id=str(chat.id),
            user_id=str(user.id),
            user_name=user.username or user.first_name or str(user.id),
            text=text,
            message_id=str(message_id if message_id is not None else message.message_id),
            private=chat.type == ChatType.PRIVATE,
            is_admin=admin,
            locale=user.language_code,
            request_id=f"u{update.update_id}",
        )

    async def _send(self, update: Update, replies: list[Reply], reply_to: int) -> None:
        chat = update.effective_chat
        for reply in replies:
            if reply.job_id is None:
                await with_retry(
                    chat.send_message, reply.text, reply_markup=keyboard(reply.buttons),
                    reply_to_message_id=reply_to, allow_sending_without_reply=True,
                )
            else:  # the status message: a placeholder photo the painting will replace
                sent = await send_status_photo(update.get_bot(), chat.id, reply.text,
                                               reply_to=reply_to,
                                               reply_markup=keyboard(reply.buttons))
                ref = status_ref(chat.id, sent.message_id)
                await self.app.store.set_status_ref(reply.job_id, ref)
                self.on_status_sent(ref, reply.text)

    # -- handlers -------------------------------------------------------------------------
    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A /command, in a private chat or a group (``/cmd@ThisBot`` there)."""
        message = update.effective_message
        if message is None or update.effective_user is None or not message.text:
            return
        cmd = parse_command(message.text)
        if cmd is not None and cmd.mention and cmd.mention.lower() != \
                (context.bot.username or "").lower():
            return  # addressed to another bot in this group
        needs_rights = cmd is not None and cmd.name in _NEEDS_RIGHTS and bool(cmd.args)
        admin = needs_rights and await self._is_admin(update, context)
        replies = await self.app.core.handle(self._incoming(update, message.text, admin=admin))
        await self._send(update, replies, message.message_id)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Plain text in a private chat: a hint on how to ask for a picture."""
        message = update.effective_message
        replies = await self.app.core.handle(self._incoming(update, message.text))
        await self._send(update, replies, message.message_id)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button under an image or a style list. Callback data refers to stored state."""
        query = update.callback_query
        await query.answer()  # first: stops the button's spinner
        data = query.data or ""
        message = query.message
        if message is None:
            return
        if data.startswith("job:file:"):
            return await self._send_original(update, data, message.message_id)
        needs_rights = data.startswith(("style:", "job:del:"))
        admin = needs_rights and await self._is_admin(update, context)
        msg = self._incoming(update, "", admin=admin, message_id=message.message_id)
        replies = await self.app.core.press(msg, data)
        for reply in replies:
            if reply.delete_message:
                await with_retry(message.delete)
        await self._send(update, [r for r in replies if not r.delete_message],
                         message.message_id)

    async def _send_original(self, update: Update, data: str, reply_to: int) -> None:
        """The PNG as a document: Telegram recompresses photos."""
        job_id = data.rsplit(":", 1)[-1]
        msg = self._incoming(update, "", message_id=reply_to)
        lang = await self.app.core.language(msg)
        job = await self.app.store.job(int(job_id)) if job_id.isdigit() else None
        result = await self.app.store.result(job.id) if job is not None else None
        path = Path(result.image_path) if result is not None else None
        if job is None or job.chat_id != msg.chat_id or path is None or not path.is_file():
            await self._send(update, [Reply(t(lang, "job_gone"))], reply_to)
            return
        png = await asyncio.to_thread(path.read_bytes)
        await with_retry(update.effective_chat.send_document, png,
                         filename=f"pelukis-{job.id}-{job.seed}.png",
                         reply_to_message_id=reply_to, allow_sending_without_reply=True)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: log first, then tell the user something went wrong."""
        log.error("error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        lang = lang_from_locale(user.language_code if user else None) \
            or self.app.config.bot.language
        try:
            await update.effective_chat.send_message(t(lang, "error_generic"))
        except Exception:
            log.warning("could not tell the chat about the error", exc_info=True)
