"""The HTTP layer of every Bot API call the bot makes (not getUpdates, which has its own):
python-telegram-bot's HTTPXRequest, counting each call by its Bot API method."""

from __future__ import annotations

from telegram.request import HTTPXRequest

from bot import metrics


class CountingRequest(HTTPXRequest):
    async def do_request(self, url: str, method: str, *args, **kwargs) -> tuple[int, bytes]:
        # the URL ends in the Bot API method: …/bot<token>/sendPhoto
        metrics.message_sent("telegram", url.rpartition("/")[2])
        return await super().do_request(url, method, *args, **kwargs)
