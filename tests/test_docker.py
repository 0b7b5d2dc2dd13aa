"""The container files keep their promises (hadolint and the compose schema run in
``make lint``): the health check asks the endpoint the bot serves, the data, styles and model
cache are volumes, no root, no token in the image, the GPU reserved, the optional services
behind profiles and pointed at by the config keys that use them."""

from __future__ import annotations

import re

from ruamel.yaml import YAML

from bot.config import load_config
from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.split(None, 1)[:1] == [name]]


def test_the_image_checks_the_health_endpoint_the_bot_serves():
    (check,) = instructions("HEALTHCHECK")
    (env,) = [e for e in instructions("ENV") if "PELUKIS_METRICS_ADDRESS" in e]
    port = re.search(r"PELUKIS_METRICS_ADDRESS=[\d.]+:(\d+)", env)[1]
    assert f"127.0.0.1:{port}/healthz" in check
    assert instructions("EXPOSE") == [port]


def test_data_styles_and_model_cache_are_volumes_and_it_runs_as_a_user():
    (volumes,) = instructions("VOLUME")
    hf_home = re.search(r"HF_HOME=(\S+)", DOCKERFILE)[1]
    config = load_config(ROOT / "config.toml")  # the config the image ships, at /app
    for path in (config.storage.database, config.storage.images, config.engine.adapters):
        top = "/app/" + path.split("/")[0]
        assert f'"{top}"' in volumes, top
    assert f'"{hf_home}"' in volumes
    (user,) = instructions("USER")
    assert user.split(":")[0] not in ("0", "root")
    assert not re.search(r"(TOKEN|API_KEY)\s*=", " ".join(instructions("ENV")))


def test_compose_reserves_the_gpu_and_keeps_extras_behind_profiles():
    compose = YAML(typ="safe").load((ROOT / "compose.yml").read_text())
    bot = compose["services"]["bot"]
    (device,) = bot["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "profiles" not in bot
    assert compose["services"]["libretranslate"]["profiles"] == ["translate"]
    assert compose["services"]["telegram-bot-api"]["profiles"] == ["telegram-api"]
    # stopping waits longer than the bot's own graceful shutdown
    grace = int(bot["stop_grace_period"].rstrip("s"))
    assert grace > load_config(ROOT / "config.toml").bot.shutdown_timeout_s
    # tokens only pass through from the environment
    assert all(v.startswith("${") for k, v in bot["environment"].items()
               if "TOKEN" in k or "KEY" in k)
