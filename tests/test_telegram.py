"""A real python-telegram-bot Application against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import html.parser
import time
from pathlib import Path

import pytest

from bot.app import App
from bot.commands.catalog import COMMANDS
from bot.commands.help import help_text
from bot.config import load_config
from bot.frontends.telegram import TelegramService
from bot.frontends.telegram.render import utf16_len
from bot.i18n import t
from tests.conftest import write_config
from tests.fake_telegram import BOT_USERNAME, FakeBotAPI

pytestmark = pytest.mark.slow

GROUP = -100500
ADMIN, MEMBER, OTHER = 11, 22, 33


class TelegramHTML(html.parser.HTMLParser):
    """Checks a caption is HTML Telegram accepts: known tags, balanced, nothing else."""

    ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
               "tg-spoiler", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        assert tag in self.ALLOWED, f"tag <{tag}> is not Telegram HTML"
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text += data

    @classmethod
    def check(cls, source: str) -> str:
        parser = cls()
        parser.feed(source)
        parser.close()
        assert not parser.stack, f"unclosed {parser.stack}"
        assert "<" not in source.replace("<b>", "").replace("</b>", "")
        return parser.text


async def until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake():
    server = FakeBotAPI()
    yield server
    server.close()


@pytest.fixture
def tg_config(tmp_path, fake):
    return load_config(write_config(
        tmp_path,
        telegram={"base_url": fake.base_url, "base_file_url": fake.base_file_url,
                  "poll_timeout_s": 1, "edit_interval_s": 0.2, "rate_limit": False},
        bot={"language": "id"},
        limits={"prompt_max_chars": 5000},
    ), must_exist=True)


async def start(config, fake) -> tuple[App, TelegramService]:
    app = await App.open(config)
    service = TelegramService(app, fake.token)
    await service.initialize()
    app.add_frontend(service.frontend)
    app.start()
    await service.start()
    return app, service


async def stop(app: App, service: TelegramService) -> None:
    await service.stop()
    await app.close()


def replies_to(fake: FakeBotAPI, method: str, message_id: int):
    return [c for c in fake.calls_to(method)
            if str((c.params.get("reply_parameters") or {}).get("message_id")) == str(message_id)]


def edits_of(fake: FakeBotAPI, method: str, message_id: int, *, answered: bool = True):
    return [c for c in fake.calls_to(method, answered=answered)
            if str(c.params.get("message_id")) == str(message_id)]


async def status_photo(fake: FakeBotAPI, request_id: int):
    """The status message a /generate got: a placeholder photo, the status as its caption."""
    return (await until(lambda: replies_to(fake, "sendPhoto", request_id),
                        what="queued reply"))[0]


async def picture(fake: FakeBotAPI, status) -> tuple:
    """The painting, as the edit of the status message: (the editMessageMedia call, caption)."""
    message_id = status.result["message_id"]
    edit = (await until(lambda: edits_of(fake, "editMessageMedia", message_id),
                        what="the picture"))[0]
    media = edit.params["media"]
    assert media["type"] == "photo" and media["parse_mode"] == "HTML"
    assert edit.files[media["media"].removeprefix("attach://")][:4] == b"\x89PNG"
    return edit, media["caption"]


async def test_private_chat_generate_flow(tg_config, fake):
    app, service = await start(tg_config, fake)
    try:
        # the command menus from the specs: everyone's and the group admins', each in
        # English (default) and Indonesian
        menus = await until(lambda: len(fake.calls_to("setMyCommands")) == 4 and
                            fake.calls_to("setMyCommands"), what="setMyCommands")
        by_scope = {(m.params["scope"]["type"], m.params.get("language_code")):
                    [c["command"] for c in m.params["commands"]] for m in menus}
        everyone = [s.name for s in COMMANDS if s.in_menu]
        assert by_scope[("default", None)] == by_scope[("default", "id")] == everyone
        assert by_scope[("all_chat_administrators", "id")] == [s.name for s in COMMANDS]
        assert "safety" not in everyone and everyone[0] == "generate"
        indonesian = {c["command"]: c["description"] for m in menus
                      if m.params.get("language_code") == "id" for c in m.params["commands"]}
        assert indonesian["generate"] == t("id", "cmd_generate")

        fake.send_text(7, 7, "/start")
        help_msg = await until(lambda: fake.calls_to("sendMessage"), what="help")
        assert help_msg[0].params["text"].startswith(help_text(COMMANDS, "id") + "\n")

        fake.fail_next = {"editMessageMedia": 1}  # flood control: 429, retry after 1 s
        request = fake.send_text(7, 7, "/gambar kucing lucu di pasar --seed 42 --steps 2")
        status = await status_photo(fake, request["message_id"])
        assert status.params["caption"].startswith("Masuk antrean")
        assert status.files["photo"][:4] == b"\x89PNG"  # the placeholder
        status_id = status.result["message_id"]
        edit, html = await picture(fake, status)
        # the 429, then the retry
        assert len(edits_of(fake, "editMessageMedia", status_id, answered=False)) == 2
        caption = TelegramHTML.check(html)
        assert "Prompt: kucing lucu di pasar" in caption
        assert "Inggris: cute cat in the market (terjemahan luring)" in caption
        assert "Seed: 42" in caption and "Langkah: 2" in caption and "CLIP:" in caption
        keyboard = edit.params["reply_markup"]["inline_keyboard"]
        data = [b["callback_data"] for row in keyboard for b in row]
        assert [d.split(":")[1] for d in data] == ["reroll", "seed", "vary", "up2", "up4",
                                                  "file", "del"]
        job_id = int(data[0].rsplit(":", 1)[1])
        stored = (await app.store.result(job_id)).image_path
        media = edit.params["media"]["media"].removeprefix("attach://")
        assert edit.files[media] == await asyncio.to_thread(Path(stored).read_bytes)
        # the status message IS the result: one photo message, not deleted, now the painting
        assert len(fake.calls_to("sendPhoto")) == 1 and not fake.calls_to("deleteMessage")
        shown = fake.message(7, status_id)
        assert shown["caption"] == edit.params["media"]["caption"]
        assert shown["reply_markup"] == edit.params["reply_markup"]
        assert fake.calls_to("sendChatAction")  # upload_photo while painting
        # progress went to the placeholder's caption, before the picture replaced it
        captions = edits_of(fake, "editMessageCaption", status_id, answered=False)
        assert all(c.at < edit.at for c in captions)
    finally:
        await stop(app, service)


async def test_group_style_needs_admin_and_other_bots_are_ignored(tg_config, fake):
    fake.admins.add((GROUP, ADMIN))
    app, service = await start(tg_config, fake)
    try:
        m = fake.send_text(GROUP, MEMBER, "/style kancil")
        denied = await until(lambda: replies_to(fake, "sendMessage", m["message_id"]))
        assert denied[0].params["text"] == t("id", "style_moderators_only")
        m = fake.send_text(GROUP, ADMIN, f"/style@{BOT_USERNAME} kancil")
        ok = await until(lambda: replies_to(fake, "sendMessage", m["message_id"]))
        assert ok[0].params["text"] == t("id", "style_set", title="Dongeng Kancil")
        assert (await app.store.chat_settings("telegram", str(GROUP))).style == "kancil"
        ignored = fake.send_text(GROUP, ADMIN, "/style@SomeOtherBot none")
        listing = fake.send_text(GROUP, MEMBER, "/style")
        shown = await until(lambda: replies_to(fake, "sendMessage", listing["message_id"]))
        assert "✅ kancil" in shown[0].params["text"]
        assert not replies_to(fake, "sendMessage", ignored["message_id"])
        buttons = shown[0].params["reply_markup"]["inline_keyboard"]
        assert {b["callback_data"] for row in buttons for b in row} >= {"style:kancil",
                                                                      "style:none"}
        # a member pressing a style button is refused as well
        fake.press(GROUP, MEMBER, {"message_id": 1, "date": 0, "chat": fake.chat(GROUP)},
                   "style:retro-anime")
        await until(lambda: len(fake.calls_to("answerCallbackQuery")) == 1)
        await until(lambda: any(c.params["text"] == t("id", "style_moderators_only")
                                for c in fake.calls_to("sendMessage")[3:]))
        assert (await app.store.chat_settings("telegram", str(GROUP))).style == "kancil"
    finally:
        await stop(app, service)


async def test_a_group_admin_may_set_the_image_check_and_skips_flood_limits(tg_config, fake):
    """Rights come from the command spec on every command, asked of Telegram (getChatMember)
    only when they matter: an admin's /safety is accepted, a member's refused; an admin
    past the per-user limit still gets a picture queued."""
    fake.admins.add((GROUP, ADMIN))
    config = tg_config.model_copy(update={"limits": tg_config.limits.model_copy(
        update={"max_queued_per_user": 1})})
    app, service = await start(config, fake)
    try:
        m = fake.send_text(GROUP, MEMBER, "/safety relaxed")
        denied = await until(lambda: replies_to(fake, "sendMessage", m["message_id"]))
        assert denied[0].params["text"] == t("id", "safety_moderators_only")
        m = fake.send_text(GROUP, ADMIN, f"/safety@{BOT_USERNAME} ketat")
        ok = await until(lambda: replies_to(fake, "sendMessage", m["message_id"]))
        assert ok[0].params["text"] == t("id", "safety_set", mode=t("id", "safety_strict"))
        assert (await app.store.chat_settings("telegram", str(GROUP))).safety == "strict"
        looks = fake.send_text(GROUP, MEMBER, "/safety")  # looking needs no rights
        shown = await until(lambda: replies_to(fake, "sendMessage", looks["message_id"]))
        assert shown[0].params["text"] == t("id", "safety_show", mode=t("id", "safety_strict"))
        asked = len(fake.calls_to("getChatMember"))
        # flood limits: the second waiting job of a member is refused, an admin's is not
        for user in (MEMBER, ADMIN):  # one at a time: each is queued before the next
            first = fake.send_text(GROUP, user, "/generate a boat --steps 40")
            await status_photo(fake, first["message_id"])
        member_again = fake.send_text(GROUP, MEMBER, "/generate a second boat")
        admin_again = fake.send_text(GROUP, ADMIN, "/generate a second boat")
        refused = await until(lambda: replies_to(fake, "sendMessage",
                                                 member_again["message_id"]))
        assert refused[0].params["text"].startswith(t("id", "queue_full", count=1,
                                                      limit=1)[:20])
        await status_photo(fake, admin_again["message_id"])  # queued: its status photo
        # the first /generate of each asked nothing: rights are asked only at the limit
        assert len(fake.calls_to("getChatMember")) - asked <= 2
    finally:
        await stop(app, service)


async def test_buttons_work_and_keep_working_after_a_restart(tg_config, fake):
    app, service = await start(tg_config, fake)
    try:
        request = fake.send_text(GROUP, MEMBER, "/generate a red boat --seed 5 --steps 2",
                                 lang="en")
        photo_call, _ = await picture(fake, await status_photo(fake, request["message_id"]))
    finally:
        await stop(app, service)
    # the bot restarts; the photo's buttons still refer to the stored job
    job_id = int(photo_call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                 .rsplit(":", 1)[1])
    photo_message = {"message_id": 5000, "date": 0, "chat": fake.chat(GROUP),
                     "photo": [{"file_id": "x", "file_unique_id": "y", "width": 64,
                                "height": 64}]}
    app, service = await start(tg_config, fake)
    try:
        fake.press(GROUP, OTHER, photo_message, f"job:seed:{job_id}")
        await until(lambda: any(c.params.get("text") == t("id", "seed_set", seed=5)
                                for c in fake.calls_to("sendMessage")), what="seed kept")
        assert (await app.store.user_settings("telegram", str(GROUP), str(OTHER))).seed == 5

        fake.press(GROUP, OTHER, photo_message, f"job:file:{job_id}")
        doc = await until(lambda: fake.calls_to("sendDocument"), what="original PNG")
        stored = (await app.store.result(job_id)).image_path
        assert doc[0].files["document"] == await asyncio.to_thread(Path(stored).read_bytes)

        fake.press(GROUP, OTHER, photo_message, f"job:reroll:{job_id}")
        rerolled = await status_photo(fake, 5000)  # a new status message: a placeholder
        _, caption = await picture(fake, rerolled)
        assert "a red boat" in caption
        assert len(replies_to(fake, "sendPhoto", 5000)) == 1

        fake.press(GROUP, OTHER, photo_message, f"job:del:{job_id}")
        await until(lambda: any(c.params.get("text") == t("id", "delete_not_allowed")
                                for c in fake.calls_to("sendMessage")), what="refused")
        fake.press(GROUP, MEMBER, photo_message, f"job:del:{job_id}")
        await until(lambda: any(str(c.params.get("message_id")) == "5000"
                                for c in fake.calls_to("deleteMessage")), what="deleted")

        fake.press(GROUP, MEMBER, photo_message, "job:reroll:99999")
        await until(lambda: any(c.params.get("text") == t("id", "job_gone")
                                for c in fake.calls_to("sendMessage")), what="polite answer")
    finally:
        await stop(app, service)


HOSTILE = [
    "<b>kucing</b> & anjing",
    "</code> <pre> & &amp; <a href='x'>",
    "kucing " + "<&>" * 1000,  # 3,000+ characters of markup
    "🐱" * 1500,  # 3,000 UTF-16 units
    "x" * 3000,
]


async def test_hostile_prompts_give_valid_html_within_1024(tg_config, fake):
    app, service = await start(tg_config, fake)
    try:
        requests = [fake.send_text(i + 1, i + 1, f"/generate {p} --steps 1 --seed 1", lang="en")
                    for i, p in enumerate(HOSTILE)]
        for prompt, request in zip(HOSTILE, requests, strict=True):
            _, caption = await picture(fake, await status_photo(fake, request["message_id"]))
            assert utf16_len(caption) <= 1024
            text = TelegramHTML.check(caption)
            assert "Seed: 1" in text and "CLIP:" in text  # parameters are never cut
            shown = text.split("\n")[0].removeprefix("Prompt: ").rstrip("…")
            assert prompt.startswith(shown) and len(shown) >= min(len(prompt), 50)
    finally:
        await stop(app, service)


async def test_three_users_queue_at_once(tg_config, fake):
    app, service = await start(tg_config, fake)
    try:
        requests = [fake.send_text(GROUP, uid, f"/generate a lantern number {uid} --steps 2 "
                                               f"--seed {uid}", lang="en")
                    for uid in (101, 102, 103)]
        statuses = [await status_photo(fake, r["message_id"]) for r in requests]
        positions = sorted(s.params["caption"] for s in statuses)
        assert positions == sorted([t("en", "queued_next"), t("en", "queued", position=2),
                                    t("en", "queued", position=3)])
        for request, status in zip(requests, statuses, strict=True):
            edit, caption = await picture(fake, status)  # its status message ends as its picture
            assert f"a lantern number {request['from']['id']}" in caption
            assert len(replies_to(fake, "sendPhoto", request["message_id"])) == 1
            shown = fake.message(GROUP, status.result["message_id"])
            assert shown["caption"] == caption
        await asyncio.sleep(0.5)  # nothing more arrives: one picture each
        assert len(fake.calls_to("sendPhoto")) == 3
        assert len(fake.calls_to("editMessageMedia")) == 3
    finally:
        await stop(app, service)


async def test_webhook_mode(tmp_path, fake):
    import json
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = load_config(write_config(
        tmp_path,
        telegram={"base_url": fake.base_url, "webhook_url": f"http://127.0.0.1:{port}/",
                  "webhook_listen": "127.0.0.1", "webhook_port": port, "rate_limit": False},
    ), must_exist=True)
    app, service = await start(config, fake)
    try:
        hook = (await until(lambda: fake.calls_to("setWebhook"), what="setWebhook"))[0]
        url, secret = hook.params["url"], hook.params["secret_token"]
        assert url.startswith(f"http://127.0.0.1:{port}/") and fake.token not in url
        update = {"update_id": 1, "message": {
            "message_id": 1, "date": 0, "chat": fake.chat(9), "from": fake.user(9, lang="en"),
            "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}

        def post(token: str) -> int:
            req = urllib.request.Request(url, data=json.dumps(update).encode(), headers={
                "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": token})
            try:
                return urllib.request.urlopen(req, timeout=10).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await asyncio.to_thread(post, "wrong") == 403  # only Telegram may post here
        assert await asyncio.to_thread(post, secret) == 200
        sent = await until(lambda: fake.calls_to("sendMessage"), what="help over webhook")
        assert sent[0].params["text"].startswith(help_text(COMMANDS, "en") + "\n")
    finally:
        await stop(app, service)
