import asyncio
import json
import logging
import os
import subprocess
import sys

import pytest

from bot.logs import RedactSecrets, log_ids, setup_logging
from engine.logline import parse_line
from tests.conftest import ROOT


def test_tokens_are_redacted_from_library_log_lines(monkeypatch):
    token = "123456789:AAH-secret_part_ABCDEFGHIJKLMNOPQRSTUV"
    monkeypatch.setenv("DISCORD_TOKEN", "discord.secret.token-value")
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1,
        'HTTP Request: POST https://api.telegram.org/bot%s/getUpdates "HTTP/1.1 200 OK" %s',
        (token, "discord.secret.token-value"), None)
    assert RedactSecrets().filter(record)
    line = record.getMessage()
    assert token not in line and "secret_part" not in line
    assert "discord.secret" not in line
    assert "/bot[token]/getUpdates" in line and "[DISCORD_TOKEN]" in line


def test_tokens_are_redacted_from_tracebacks():
    import io

    token = "987654321:AAH-another_secret_ABCDEFGHIJKLMNOPQRS"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{token}/getMe")
    except ConnectionError:
        logger.error("request failed", exc_info=True)
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "Traceback" in out and "ConnectionError" in out
    assert token not in out and "another_secret" not in out


# -- formats: text and JSON lines, to a file ---------------------------------------------------
TOKEN = "123456789:AAH-secret_part_ABCDEFGHIJKLMNOPQRSTUV"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _log_some(name: str) -> None:
    log = logging.getLogger(name)
    log.warning("sending to https://api.telegram.org/bot%s/sendPhoto failed", TOKEN)
    log.info("job %d done", 7, extra={"job_id": 7, "chat_id": "telegram:42"})

    async def delivery() -> None:  # a task's ids stay its own
        log_ids(job_id=8, chat_id="discord:9")
        log.error("delivery failed")

    asyncio.run(delivery())
    log.error("after the task")
    try:
        raise ConnectionError(f"cannot reach /bot{TOKEN}/getMe")
    except ConnectionError:
        log.exception("request failed")


def test_json_lines_carry_level_logger_ids_and_no_token(tmp_path, restore_logging):
    path = tmp_path / "var" / "pelukis.log"
    setup_logging("INFO", "json", path)
    _log_some("pelukis.test")
    text = path.read_text()
    assert TOKEN not in text and "secret_part" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(r["level"], r["logger"]) for r in lines] == [
        ("WARNING", "pelukis.test"), ("INFO", "pelukis.test"), ("ERROR", "pelukis.test"),
        ("ERROR", "pelukis.test"), ("ERROR", "pelukis.test")]
    assert all(r["time"].endswith("+00:00") for r in lines)
    warn, done, task, after, failed = lines
    assert "/bot[token]/sendPhoto" in warn["message"] and "job_id" not in warn
    assert (done["job_id"], done["chat_id"]) == (7, "telegram:42")
    assert (task["job_id"], task["chat_id"]) == (8, "discord:9")
    assert "job_id" not in after
    assert "Traceback" in failed["traceback"] and "ConnectionError" in failed["traceback"]


def test_text_lines_name_the_level_and_logger(tmp_path, restore_logging):
    path = tmp_path / "pelukis.log"
    setup_logging("WARNING", "text", path)
    _log_some("pelukis.test")
    text = path.read_text()
    assert TOKEN not in text
    assert " WARNING pelukis.test: sending to https://api.telegram.org/bot[token]/" in text
    assert "job 7 done" not in text  # INFO, below the level
    assert " ERROR pelukis.test: request failed\nTraceback" in text


ENGINE_SIDE = """
import logging, warnings
from engine.logline import route_library_logs, setup_engine_logging
setup_engine_logging("INFO")
import diffusers, transformers
route_library_logs()
transformers.utils.logging.get_logger("transformers.modeling_utils").warning(
    "Some weights of the model were not used: unexpected keys")
diffusers.utils.logging.get_logger("diffusers.loaders.peft").warning(
    "Loading adapter weights from state_dict led to unexpected keys:\\n  lora_A.weight")
transformers.utils.logging.get_logger("transformers.utils.import_utils").warning(
    "`CLIPImageProcessor` requires torchvision (not installed); falling back")
warnings.warn("a deprecated call", FutureWarning)
logging.getLogger("pelukis.engine").info("ready")
"""


@pytest.mark.slow
def test_library_warnings_keep_their_level_and_name_across_the_engine_pipe():
    """The engine process's logging as its main() sets it up, with diffusers' and
    transformers' real loggers; every stderr line is a record the client relays whole."""
    # CI=true: transformers then also propagates beside its own handler (its worst case)
    out = subprocess.run([sys.executable, "-c", ENGINE_SIDE], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ, "CI": "true"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line]
    records = [parse_line(line) for line in lines]
    assert None not in records, lines  # no bare "[transformers] …" line, no print
    by_name = {name: (level, message) for name, level, message in records}
    assert by_name["transformers.modeling_utils"][0] == logging.WARNING
    level, message = by_name["diffusers.loaders.peft"]
    assert level == logging.WARNING and message.endswith("unexpected keys:\n  lora_A.weight")
    assert by_name["py.warnings"][0] == logging.WARNING and "FutureWarning" in \
        by_name["py.warnings"][1]
    # known and harmless here (torchvision is left out on purpose): not at WARNING
    assert by_name["transformers.utils.import_utils"][0] == logging.INFO
    assert by_name["pelukis.engine"] == (logging.INFO, "ready")
