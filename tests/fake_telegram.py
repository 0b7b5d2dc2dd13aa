"""A fake Telegram Bot API server on 127.0.0.1 for tests (``[telegram] base_url``).

It speaks the wire format python-telegram-bot 22 uses: requests form-encoded (multipart when a
file is sent), every value a string, nested objects as JSON strings; answers
``{"ok": true, "result": …}`` with complete objects. ``getUpdates`` drops updates below
``offset`` and holds the request up to its ``timeout``. Every call is recorded.

Files: ``getFile`` answers a file path for a known ``file_id`` (a user's photo, or a
photo the bot sent) and ``GET /file/bot<token>/<path>`` serves its bytes, as the real server
does; over 20 MB ``getFile`` answers 400 "file is too big", an unknown id 400 "invalid
file_id", and ``download_delay_s`` slows a download down.

The fake remembers the messages the bot sent, so edits behave as on Telegram: an unknown
message answers 400 "message to edit not found", an edit that changes nothing answers 400
"message is not modified".
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

BOT_ID = 4242
BOT_USERNAME = "PelukisTestBot"


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # what the fake answered
    result: Any = None  # what the fake answered with, on success


class APIError(Exception):
    """An answer other than success (400 Bad Request…)."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


NOT_FOUND = "Bad Request: message to edit not found"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the "
                "message")


def _decode(value: str) -> Any:
    """Form values are strings; nested objects arrive as JSON strings."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeBotAPI:
    def __init__(self, token: str = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz0123"):
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.admins: set[tuple[int, int]] = set()  # (chat_id, user_id) with admin rights
        self.fail_next: dict[str, int] = {}  # method → how many calls answer 429 first
        self._next_update = 1
        self._next_message = 1000
        # (chat_id, message_id) → the message as it now is, and the bytes of its photo
        self.messages: dict[tuple[int, int], dict] = {}
        self.photos: dict[tuple[int, int], bytes] = {}
        self.files: dict[str, bytes] = {}  # file_id → its bytes (getFile, /file/…)
        self.download_delay_s = 0.0
        self._lock = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.base_file_url = f"http://127.0.0.1:{self.port}/file/bot"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what tests do -------------------------------------------------------------------
    def user(self, user_id: int, name: str = "", lang: str | None = "id") -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": name or f"user{user_id}"}
        if lang:
            user["language_code"] = lang
        return user

    @staticmethod
    def chat(chat_id: int) -> dict:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": "Komunitas"}

    def send_text(self, chat_id: int, user_id: int, text: str, lang: str | None = "id",
                  reply_to: dict | None = None) -> dict:
        """A user writes ``text`` (as a reply to ``reply_to``, a message as the fake
        holds it); returns the Message as the bot will see it."""
        message = {
            "message_id": self._message_id(), "date": int(time.time()),
            "chat": self.chat(chat_id), "from": self.user(user_id, lang=lang), "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self._push({"message": message})
        return message

    def send_photo(self, chat_id: int, user_id: int, data: bytes, caption: str = "",
                   lang: str | None = "id", as_document: bool = False,
                   mime_type: str = "image/png") -> dict:
        """A user sends a picture (a photo, or a file) with ``caption``; its bytes are
        served by getFile and the file URL."""
        message = {
            "message_id": self._message_id(), "date": int(time.time()),
            "chat": self.chat(chat_id), "from": self.user(user_id, lang=lang),
        }
        file_id = self._add_file(data)
        if as_document:
            message["document"] = {"file_id": file_id, "file_unique_id": f"u{file_id}",
                                   "file_name": "picture", "mime_type": mime_type,
                                   "file_size": len(data)}
        else:  # Telegram offers a thumbnail and the photo; the bot should take the largest
            thumb = self._add_file(b"thumbnail")
            message["photo"] = [
                {"file_id": thumb, "file_unique_id": f"u{thumb}", "width": 90, "height": 90,
                 "file_size": 9},
                {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 640,
                 "height": 640, "file_size": len(data)}]
        if caption:
            message["caption"] = caption
            if caption.startswith("/"):
                message["caption_entities"] = [{"type": "bot_command", "offset": 0,
                                                "length": len(caption.split()[0])}]
        self._push({"message": message})
        return message

    def _add_file(self, data: bytes) -> str:
        """The file's id: by content, as the same photo sent again keeps its id."""
        file_id = f"file{hashlib.sha1(data).hexdigest()[:16]}"
        with self._lock:
            self.files[file_id] = data
        return file_id

    def press(self, chat_id: int, user_id: int, message: dict, data: str) -> None:
        """A user presses a button under ``message`` (a message the bot sent)."""
        self._push({"callback_query": {
            "id": f"cb{self._next_update}", "from": self.user(user_id),
            "chat_instance": str(chat_id), "data": data, "message": message,
        }})

    def _push(self, body: dict) -> None:
        with self._lock:
            self.updates.append({"update_id": self._next_update, **body})
            self._next_update += 1
            self._lock.notify_all()

    def calls_to(self, method: str, *, answered: bool = True) -> list[Call]:
        """The calls of ``method`` (by default only those answered with success)."""
        with self._lock:
            return [c for c in self.calls if c.method == method
                    and (c.status == 200 or not answered)]

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.05)
        methods = [c.method for c in self.calls]
        raise AssertionError(f"timed out waiting for {what}; calls: {methods[-40:]}")

    # -- the server side -----------------------------------------------------------------
    def _message_id(self) -> int:
        with self._lock:
            self._next_message += 1
            return self._next_message

    def _parse(self, req: BaseHTTPRequestHandler) -> tuple[dict, dict] | None:
        """The request's fields and files; None for a body cut short (the client died
        mid-upload, as a bot killed with -9 does), which Telegram never acts on."""
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        if len(body) < length:
            return None
        ctype = req.headers.get("Content-Type", "")
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename():
                    files[name] = payload
                else:
                    params[name] = _decode(payload.decode())
        elif body:
            if ctype.startswith("application/json"):
                params = json.loads(body)
            else:
                params = {k: _decode(v[0]) for k, v in parse_qs(body.decode()).items()}
        return params, files

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?")[0]
        if path.startswith("/file/bot"):
            return self._download(req, path)
        try:
            prefix, method = path.rsplit("/", 1)
            token = prefix.removeprefix("/bot")
        except ValueError:
            return self._answer(req, 404, {"ok": False, "error_code": 404,
                                           "description": "Not Found"})
        parsed = self._parse(req)
        if parsed is None:
            req.close_connection = True
            return
        params, files = parsed
        call = Call(token, method, params, files)
        with self._lock:
            self.calls.append(call)
        if token != self.token:
            return self._answer(req, 401, {"ok": False, "error_code": 401,
                                           "description": "Unauthorized"})
        if self.fail_next.get(method):
            self.fail_next[method] -= 1
            call.status = 429
            return self._answer(req, 429, {"ok": False, "error_code": 429,
                                           "description": "Too Many Requests: retry after 1",
                                           "parameters": {"retry_after": 1}})
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return self._answer(req, 200, {"ok": True, "result": True})
        try:
            result = handler(params, files)
        except KeyError as exc:
            call.status = 400
            return self._answer(req, 400, {"ok": False, "error_code": 400,
                                           "description": f"Bad Request: {exc} is missing"})
        except APIError as exc:
            call.status = exc.status
            return self._answer(req, exc.status, {"ok": False, "error_code": exc.status,
                                                  "description": exc.description})
        call.result = result
        self._answer(req, 200, {"ok": True, "result": result})

    def _download(self, req: BaseHTTPRequestHandler, path: str) -> None:
        """``GET /file/bot<token>/photos/<file_id>``: the file's bytes, or 404."""
        token, _, file_path = unquote(path.removeprefix("/file/bot")).partition("/")
        file_id = file_path.rpartition("/")[2]
        with self._lock:
            self.calls.append(Call(token, "download", {"file_path": file_path}))
            data = self.files.get(file_id) if token == self.token else None
        if self.download_delay_s:
            time.sleep(self.download_delay_s)
        if data is None:
            return self._answer(req, 404, {"ok": False, "error_code": 404,
                                           "description": "Not Found"})
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        try:
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _answer(req: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        try:
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a long poll cut short at shutdown)

    def _bot_message(self, params: dict, **extra) -> dict:
        chat_id = int(params["chat_id"])
        message = {"message_id": self._message_id(), "date": int(time.time()),
                   "chat": self.chat(chat_id),
                   "from": {"id": BOT_ID, "is_bot": True, "first_name": "Pelukis",
                            "username": BOT_USERNAME}, **extra}
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message["reply_to_message"] = {"message_id": int(reply["message_id"]),
                                           "date": int(time.time()),
                                           "chat": self.chat(chat_id)}
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self.messages[(chat_id, message["message_id"])] = message
        return message

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """A message the bot sent, as it now is (after its edits)."""
        with self._lock:
            return self.messages.get((int(chat_id), int(message_id)))

    def _edit(self, params: dict, changes: dict, photo: bytes | None = None) -> dict:
        """Apply ``changes`` (and the reply markup) to a known message, as Telegram does."""
        key = (int(params["chat_id"]), int(params["message_id"]))
        with self._lock:
            old = self.messages.get(key)
            if old is None:
                raise APIError(400, NOT_FOUND)
            new = dict(old) | changes
            if params.get("reply_markup"):
                new["reply_markup"] = params["reply_markup"]
            else:
                new.pop("reply_markup", None)
            same_photo = photo is None or self.photos.get(key) == photo
            if same_photo and {k: v for k, v in new.items() if k != "edit_date"} == \
                    {k: v for k, v in old.items() if k != "edit_date"}:
                raise APIError(400, NOT_MODIFIED)
            new["edit_date"] = int(time.time())
            self.messages[key] = new
            if photo is not None:
                self.photos[key] = photo
            return new

    # -- Bot API methods -----------------------------------------------------------------
    def api_getMe(self, params, files):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Pelukis", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def api_getUpdates(self, params, files):
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 5.0)
        with self._lock:
            # confirmed updates (below offset) are gone for good, as on Telegram
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self.updates[: int(params.get("limit") or 100)])

    def api_sendMessage(self, params, files):
        return self._bot_message(params, text=params["text"])

    def api_editMessageText(self, params, files):
        old = self.message(params["chat_id"], params["message_id"])
        if old is not None and "text" not in old:
            raise APIError(400, "Bad Request: there is no text in the message to edit")
        return self._edit(params, {"text": params["text"]})

    def api_editMessageCaption(self, params, files):
        old = self.message(params["chat_id"], params["message_id"])
        if old is not None and "text" in old:
            raise APIError(400, "Bad Request: there is no caption in the message to edit")
        return self._edit(params, {"caption": params.get("caption", "")})

    def api_editMessageMedia(self, params, files):
        media = params["media"]
        if not isinstance(media, dict) or media.get("type") != "photo":
            raise APIError(400, "Bad Request: can't parse InputMedia")
        ref = str(media.get("media", ""))
        if not ref.startswith("attach://") or ref.removeprefix("attach://") not in files:
            raise APIError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        photo = files[ref.removeprefix("attach://")]
        assert photo[:8] == b"\x89PNG\r\n\x1a\n", "editMessageMedia without a PNG"
        old = self.message(params["chat_id"], params["message_id"])
        if old is not None and "photo" not in old:
            raise APIError(400, "Bad Request: message can't be edited")
        return self._edit(params, {"caption": media.get("caption", ""),
                                   "photo": self._photo_sizes(photo)}, photo=photo)

    def _photo_sizes(self, photo: bytes) -> list[dict]:
        file_id = self._add_file(photo)
        return [{"file_id": file_id, "file_unique_id": f"u{file_id}",
                 "width": 64, "height": 64, "file_size": len(photo)}]

    def api_getFile(self, params, files):
        file_id = str(params["file_id"])
        with self._lock:
            data = self.files.get(file_id)
        if data is None:
            raise APIError(400, "Bad Request: invalid file_id")
        if len(data) > 20 * 2**20:
            raise APIError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data),
                "file_path": f"photos/{file_id}"}

    def api_sendPhoto(self, params, files):
        photo = files.get("photo", b"")
        assert photo[:8] == b"\x89PNG\r\n\x1a\n", "sendPhoto without a PNG"
        message = self._bot_message(params, caption=params.get("caption", ""),
                                    photo=self._photo_sizes(photo))
        with self._lock:
            self.photos[(int(params["chat_id"]), message["message_id"])] = photo
        return message

    def api_deleteMessage(self, params, files):
        with self._lock:
            key = (int(params["chat_id"]), int(params["message_id"]))
            self.messages.pop(key, None)
            self.photos.pop(key, None)
        return True

    def api_sendDocument(self, params, files):
        doc = files.get("document", b"")
        return self._bot_message(params, caption=params.get("caption", ""), document={
            "file_id": "doc1", "file_unique_id": "d1", "file_size": len(doc),
            "file_name": "image.png"})

    def api_getChatMember(self, params, files):
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = self.user(user_id)
        if (chat_id, user_id) in self.admins:
            return {"status": "administrator", "user": user, "can_be_edited": False,
                    "is_anonymous": False, "can_manage_chat": True,
                    "can_delete_messages": True, "can_manage_video_chats": True,
                    "can_restrict_members": True, "can_promote_members": False,
                    "can_change_info": True, "can_invite_users": True,
                    "can_post_stories": False, "can_edit_stories": False,
                    "can_delete_stories": False}
        return {"status": "member", "user": user}


# -- what a chat ends up showing -----------------------------------------------------------
def reply_id(params_or_message: dict) -> int | None:
    """The message a call's ``reply_parameters`` (or a message's ``reply_to_message``)
    answers."""
    reply = params_or_message.get("reply_parameters") or params_or_message.get(
        "reply_to_message")
    return int(reply["message_id"]) if isinstance(reply, dict) else None


def paintings(fake: FakeBotAPI, placeholder: bytes) -> dict[int, list[float]]:
    """request message id → when a painting reached the user, each time it did: a photo sent
    as a reply to the request, or a status photo (a placeholder that replied to it) edited
    into the painting. An edit that changed nothing (a repeat after a crash) is not one."""
    status_of: dict[int, int] = {}  # status message id → its request
    seen: dict[int, list[float]] = {}
    for c in fake.calls_to("sendPhoto"):
        request = reply_id(c.params)
        if request is None or c.result is None:  # refused: nothing reached the chat
            continue
        if c.files.get("photo") == placeholder:
            status_of[c.result["message_id"]] = request
        else:
            seen.setdefault(request, []).append(c.at)
    for c in fake.calls_to("editMessageMedia"):
        request = status_of.get(int(c.params["message_id"]))
        if request is not None and c.result is not None:
            seen.setdefault(request, []).append(c.at)
    return seen


def left_behind(fake: FakeBotAPI, chat_id: int, placeholder: bytes,
                notes: tuple[str, ...] = ("Maaf", "Sorry")) -> list[dict]:
    """The bot's messages now in ``chat_id`` that are neither a painting nor a failure
    note: status photos never turned into their picture, status texts never deleted."""
    with fake._lock:
        mine = [(key, m) for key, m in fake.messages.items() if key[0] == chat_id]
        return [m for key, m in mine
                if ("photo" in m and fake.photos.get(key) == placeholder)
                or ("text" in m and not m["text"].startswith(notes))]
