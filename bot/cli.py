"""Command line: ``python -m bot [serve|chat|generate|translate|sync-commands|doctor|fetch-models]
[--config PATH]``.

Heavy imports happen inside the subcommands so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Pelukis: paints images from Indonesian or English prompts.",
    )
    parser.add_argument("--config", default="config.toml",
                        help="configuration file (default: ./config.toml)")
    # --config after the subcommand too; SUPPRESS keeps it from resetting one given before
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="configuration file (default: ./config.toml)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", parents=[common],
                   help="serve every platform with a token (TELEGRAM_TOKEN, DISCORD_TOKEN); "
                        "the default")
    sub.add_parser("chat", parents=[common], help="the chat commands in this terminal")
    gen = sub.add_parser("generate", parents=[common], help="paint one image")
    gen.add_argument("prompt", help="what to paint (Indonesian or English)")
    gen.add_argument("--style", default=None, help="style name, or 'none' (default: config)")
    gen.add_argument("--seed", default=None, help="0..4294967295 (default: random)")
    gen.add_argument("--cfg", default=None, help="guidance scale")
    gen.add_argument("--steps", default=None, help="denoising steps")
    gen.add_argument("--no", dest="negative", default=None, help="negative prompt")
    gen.add_argument("--ar", default=None, help="aspect ratio W:H (default 1:1)")
    gen.add_argument("--raw", action="store_true", help="don't translate the prompt")
    gen.add_argument("--image", default=None, help="a picture to redraw with the prompt")
    gen.add_argument("--strength", default=None,
                     help="with --image: how much to redraw, 0-1 (default: config)")
    gen.add_argument("--out", default=None, help="PNG file to write (default: pelukis-SEED.png)")
    sc = sub.add_parser("sync-commands", parents=[common],
                        help="register the Discord slash commands (DISCORD_TOKEN)")
    sc.add_argument("--guild", type=int, default=None,
                    help="a test server's id (appears at once); default: global")
    sc.add_argument("--dry-run", action="store_true",
                    help="print the JSON payload Discord would get; no token, no network")
    tr = sub.add_parser("translate", parents=[common],
                        help="show the language and English of prompts (stdin when none given)")
    tr.add_argument("texts", nargs="*")
    sub.add_parser("doctor", parents=[common],
                   help="check the config, tokens, models, GPU, disk, database and every "
                        "style; say what to fix")
    sub.add_parser("fetch-models", parents=[common],
                   help="download the models the config names into the Hugging Face cache")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "doctor":  # before the config is loaded: a broken one is its subject
        from bot.doctor import run_doctor

        return run_doctor(args.config)
    from bot.config import ConfigError, load_config

    try:
        config = load_config(args.config, must_exist=args.config != "config.toml")
    except ConfigError as exc:
        print(f"pelukis: config error: {exc}", file=sys.stderr)
        return 2
    from bot.logs import CONSOLE_LOG, setup_logging

    command = args.command or "serve"
    log_file = config.bot.log_file or (CONSOLE_LOG if command == "chat" else "")
    try:
        setup_logging(config.bot.log_level, config.bot.log_format,
                      config.path(log_file) if log_file else None)
    except OSError as exc:
        print(f"pelukis: log file error: {exc}", file=sys.stderr)
        return 2
    from engine.styles import StyleError

    try:
        if command == "chat":
            return asyncio.run(_chat(config, config.path(log_file)))
        if command == "generate":
            from bot.oneshot import generate

            return asyncio.run(generate(config, args))
        if command == "sync-commands":
            from bot.frontends.discord.sync import sync_commands

            return asyncio.run(sync_commands(config, args.guild, args.dry_run))
        if command == "translate":
            from bot.oneshot import translate

            return asyncio.run(translate(config, args.texts))
        if command == "fetch-models":
            from bot.fetch import fetch_models

            return fetch_models(config)
        return asyncio.run(_serve(config))
    except StyleError as exc:
        print(f"pelukis: styles error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the database or image folder can't be created or opened
        print(f"pelukis: storage error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _chat(config, log_file) -> int:
    from bot.app import App
    from bot.frontends.console import ConsoleFrontEnd

    app = await App.open(config)
    console = ConsoleFrontEnd(app.commands, app.board,
                              lambda: app.dispatcher.wait_idle(ConsoleFrontEnd.platform),
                              default_lang=config.bot.language, log_file=log_file,
                              tiny_model=config.engine.model == "tiny")
    app.add_frontend(console)
    app.start()
    try:
        await console.run()
    finally:
        await app.close()
    return 0


async def _serve(config) -> int:
    """Every platform with a token, in one event loop, until SIGTERM/SIGINT."""
    import logging
    import signal

    from bot.app import App

    telegram_token = os.environ.get("TELEGRAM_TOKEN", "").strip()
    discord_token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not telegram_token and not discord_token:
        print("pelukis: no platform token set (TELEGRAM_TOKEN or DISCORD_TOKEN). "
              "For a local chat run: python -m bot chat", file=sys.stderr)
        return 2
    log = logging.getLogger("pelukis")
    app = await App.open(config)
    services = []
    runners: list[asyncio.Task] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if telegram_token:
            from bot.frontends.telegram import TelegramService

            telegram = TelegramService(app, telegram_token)
            await telegram.initialize()
            app.add_frontend(telegram.frontend)
            services.append(telegram)
        if discord_token:
            from bot.frontends.discord import run_discord

            runner = asyncio.create_task(run_discord(app, discord_token), name="discord")
            runner.add_done_callback(lambda _: stop.set())  # a failed login ends the process
            runners.append(runner)
        app.start()  # resumes jobs; the front ends above are ready to deliver
        for service in services:
            await service.start()
        served = [name for name, token in (("telegram", telegram_token),
                                           ("discord", discord_token)) if token]
        print(f"pelukis: serving {', '.join(served)}", file=sys.stderr, flush=True)
        await stop.wait()
        for runner in runners:
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                exc = runner.exception()  # e.g. discord.LoginFailure: one line, never the token
                print(f"pelukis: {runner.get_name()}: {exc.__class__.__name__}: {exc}",
                      file=sys.stderr)
                return 1
    finally:
        # graceful: no new updates, the batch in flight painted and sent, then disconnect
        for service in services:
            try:
                await service.stop_receiving()
            except Exception:
                log.exception("stopping a front end failed")
        await app.drain(config.bot.shutdown_timeout_s)
        for runner in runners:
            runner.cancel()
        for runner in runners:
            try:
                await runner
            except BaseException:  # cancelled, or already reported above
                pass
        for service in reversed(services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping a front end failed")
        await app.close()
    return 0
