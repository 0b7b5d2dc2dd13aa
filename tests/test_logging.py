import logging

from bot.logs import RedactSecrets


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
