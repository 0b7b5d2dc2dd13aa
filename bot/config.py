"""Typed configuration from ``config.toml``, validated once at start.

A bad value stops the program with one line that names the key (``ConfigError``).
Secrets (bot tokens, API keys) never live here: they come from the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.settings import (
    DEFAULT_CFG,
    DEVICE_PATTERN,
    TEST_MODEL_CFG,
    Attention,
    CompileMode,
    Dtype,
    EngineSettings,
    OnOffAuto,
    RaySettings,
    Scheduler,
    check_single_file,
)


class ConfigError(Exception):
    """One line for the operator, naming the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    language: Literal["id", "en"] = "id"  # when neither user, chat nor platform says
    moderators: list[str] = Field(default_factory=list)  # "telegram:123", "discord:456", ids
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    default_style: str = "none"  # a chat's style until someone picks one
    log_format: Literal["text", "json"] = "text"  # json: one object per line
    # "" = stderr when serving; the console chat always logs to a file (this, or
    # var/pelukis.log) so log lines never land between the conversation's lines
    log_file: str = ""
    shutdown_timeout_s: float = Field(30.0, ge=1, le=3600)  # SIGTERM: finish, send, exit by then


_ENGINE = EngineSettings()  # the engine's defaults, declared once in engine/settings.py


class EngineSection(_Section):
    """[engine]. Keys named like an ``EngineSettings`` field go to the engine as they are
    (types, allowed values and defaults from engine/settings.py; what the GPU options do:
    docs/engine.md); ``clip_model``, ``adapters`` and ``cache`` are resolved first; the last
    three are the bot's own (the dispatcher's)."""

    model: str = Field(_ENGINE.model, min_length=1)
    model_revision: str = _ENGINE.model_revision  # a hub commit/tag to pin ("" = main)
    # a single-file model's diffusers config; the key is `model_config` (pydantic keeps
    # that name for itself)
    single_file_config: str = Field(_ENGINE.single_file_config, alias="model_config")
    device: str = Field(_ENGINE.device, pattern=DEVICE_PATTERN)
    dtype: Dtype = _ENGINE.dtype
    clip_model: str = Field("auto", min_length=1)  # auto: tiny for tiny, else CLIP ViT-B/16
    clip_model_revision: str = _ENGINE.clip_model_revision
    scheduler: Scheduler = _ENGINE.scheduler
    max_batch: int = Field(_ENGINE.max_batch, ge=1, le=64)
    threads: int = Field(_ENGINE.threads, ge=0, le=256)  # torch CPU threads, 0 = torch's
    adapters: str = _ENGINE.adapters  # relative to the config file
    cache: str = _ENGINE.cache  # where the tiny model is built; relative to the config file
    # the GPU path; "auto" = on for CUDA
    attention: Attention = _ENGINE.attention
    channels_last: OnOffAuto = _ENGINE.channels_last
    tf32: OnOffAuto = _ENGINE.tf32
    compile: bool = _ENGINE.compile  # torch.compile the UNet (at start, not in a request)
    compile_mode: CompileMode = _ENGINE.compile_mode
    warmup: OnOffAuto = _ENGINE.warmup
    vae_slicing: OnOffAuto = _ENGINE.vae_slicing
    vae_tiling: OnOffAuto = _ENGINE.vae_tiling
    vae_slicing_above: int = Field(_ENGINE.vae_slicing_above, ge=32, le=8192)
    vae_tiling_above: int = Field(_ENGINE.vae_tiling_above, ge=32, le=8192)
    cpu_offload: OnOffAuto = _ENGINE.cpu_offload
    offload_below_gb: float = Field(_ENGINE.offload_below_gb, ge=0, le=1024)
    fuse_lora: bool = _ENGINE.fuse_lora  # a deployment that runs a single LoRA style
    memory_per_image_mb: float = Field(_ENGINE.memory_per_image_mb, ge=0, le=1_000_000)
    memory_reserve_mb: float = Field(_ENGINE.memory_reserve_mb, ge=0, le=1_000_000)
    encode_threads: int = Field(_ENGINE.encode_threads, ge=0, le=32)
    # optional extra pipelines: "" = none (img2img fallbacks), "tiny" for tests, a hub id
    upscale_model: str = _ENGINE.upscale_model  # the SD x4 upscaler; no sd2-community mirror
    variations_model: str = _ENGINE.variations_model  # sd2-community/stable-diffusion-2-1-unclip
    # the bot's side: batching and restarts
    batch_window_ms: int = Field(30, ge=0, le=5000)  # a burst's wait to fill a batch
    max_attempts: int = Field(3, ge=1, le=10)  # runs of one job before the user gets an apology
    restart_backoff_s: float = Field(1.0, ge=0, le=300)
    adapters_poll_s: float = Field(5.0, ge=0, le=3600)  # watch adapters/ for new styles; 0 = off
    # where the engine runs: "local" = one child process on this machine; "ray" = replicas
    # on Ray Serve ([ray], docs/ray.md; needs pip install '.[ray]')
    backend: Literal["local", "ray"] = "local"


    @model_validator(mode="after")
    def _single_file(self) -> EngineSection:
        check_single_file(self.model, self.single_file_config)
        return self


# [engine] keys that reach EngineSettings unchanged (same name, same value)
_ENGINE_AS_IS = ({f.name for f in fields(EngineSettings)} & set(EngineSection.model_fields)
                 ) - {"clip_model", "adapters", "cache"}


_RAY = RaySettings()  # declared once in engine/settings.py


class RaySection(_Section):
    """[ray]: used when [engine] backend = "ray" (docs/ray.md)."""

    address: str = _RAY.address  # "" = a local cluster started by the bot
    namespace: str = Field(_RAY.namespace, min_length=1)
    app_name: str = Field(_RAY.app_name, min_length=1, pattern=r"^[\w.-]+$")
    min_replicas: int = Field(_RAY.min_replicas, ge=0, le=1024)
    max_replicas: int = Field(_RAY.max_replicas, ge=1, le=1024)
    num_gpus: float = Field(_RAY.num_gpus, ge=0, le=64)
    num_cpus: float = Field(_RAY.num_cpus, ge=0, le=1024)
    max_ongoing_requests: int = Field(_RAY.max_ongoing_requests, ge=1, le=64)
    target_ongoing_requests: float = Field(_RAY.target_ongoing_requests, gt=0, le=64)
    upscale_delay_s: float = Field(_RAY.upscale_delay_s, ge=0, le=86400)
    downscale_delay_s: float = Field(_RAY.downscale_delay_s, ge=0, le=86400)
    batch_size: int = Field(_RAY.batch_size, ge=1, le=64)
    batch_wait_s: float = Field(_RAY.batch_wait_s, ge=0, le=10)
    local_num_cpus: int = Field(_RAY.local_num_cpus, ge=0, le=4096)
    start_timeout_s: float = Field(_RAY.start_timeout_s, gt=0, le=7200)

    @model_validator(mode="after")
    def _replicas(self) -> RaySection:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class LimitsSection(_Section):
    prompt_max_chars: int = Field(1000, ge=10, le=20000)
    negative_max_chars: int = Field(500, ge=0, le=20000)
    cfg_min: float = Field(1.0, ge=0.0)
    cfg_max: float = Field(20.0, le=30.0)
    default_cfg: float = DEFAULT_CFG
    test_model_cfg: float = TEST_MODEL_CFG  # the same with model = "tiny", which wants less
    steps_min: int = Field(1, ge=1)
    steps_max: int = Field(50, le=150)
    default_steps: int = 25
    max_aspect: float = Field(3.0, ge=1.0, le=8.0)  # widest W:H (or H:W) allowed for --ar
    max_side: int = Field(1024, ge=64, le=4096)
    max_queued_per_user: int = Field(5, ge=1, le=1000)  # jobs waiting, per user
    max_jobs_per_hour: int = Field(60, ge=1, le=100000)  # jobs asked for per user, last hour
    max_queued_per_chat: int = Field(500, ge=1, le=100000)  # jobs waiting, per chat
    max_queue: int = Field(1000, ge=1, le=1000000)  # jobs waiting in all
    moderators_exempt: bool = True  # moderators skip the per-user limits
    # pictures in (bot/pictures.py): redraw, variations, upscale
    picture_max_mb: float = Field(10.0, gt=0, le=100)  # a sent picture's file, and downloads
    picture_max_pixels: int = Field(40_000_000, ge=4096, le=100_000_000)  # decoded W × H
    picture_min_side: int = Field(16, ge=1, le=1024)
    picture_download_timeout_s: float = Field(30.0, gt=0, le=600)
    default_strength: float = Field(0.6, gt=0, le=1)  # img2img: 0 = the picture, 1 = new
    variation_strength: float = Field(0.6, gt=0, le=1)  # variations without an unCLIP model
    upscale_strength: float = Field(0.3, gt=0, le=1)  # the hi-res pass without an upscaler
    upscale_max_side: int = Field(2048, ge=64, le=8192)  # the largest side an upscale gives
    variation_noise_level: int = Field(0, ge=0, le=1000)  # unCLIP: noise on the image embedding

    @model_validator(mode="after")
    def _ranges(self) -> LimitsSection:
        for key in ("default_cfg", "test_model_cfg"):
            if not self.cfg_min <= getattr(self, key) <= self.cfg_max:
                raise ValueError(f"{key} must lie within cfg_min..cfg_max")
        if not self.steps_min <= self.default_steps <= self.steps_max:
            raise ValueError("default_steps must lie within steps_min..steps_max")
        return self


class StorageSection(_Section):
    database: str = "var/pelukis.db"
    images: str = "var/images"
    retention_days: float = Field(30.0, ge=0)  # images older than this are deleted (0 = keep)


class SafetySection(_Section):
    default_blocklist: bool = True  # the shipped Indonesian + English list
    blocklist: list[str] = Field(default_factory=list)  # the operator's extra words/phrases
    allowlist: list[str] = Field(default_factory=list)  # shipped words the operator allows
    negative: str = "nsfw, nude, naked, gore"  # always added to the negative prompt
    mode: Literal["strict", "relaxed", "off"] = "strict"  # a chat's image check by default
    strict_threshold: float = Field(24.0, gt=0, le=100)  # unsafe score (100 × CLIP cosine)
    relaxed_threshold: float = Field(29.0, gt=0, le=100)
    action: Literal["withhold", "blur"] = "withhold"
    # The tiny test model's CLIP knows only its world, where a skull stands for everything
    # unsafe (engine/world): its images are checked against that only when this says so.
    check_test_model: bool = False
    unsafe_concepts: list[str] = Field(default_factory=lambda: list(
        EngineSettings().unsafe_concepts), min_length=1)


class MaintenanceSection(_Section):
    enabled: bool = True
    cleanup_every_h: float = Field(6.0, gt=0)  # delete images past retention
    checkpoint_every_h: float = Field(1.0, gt=0)  # WAL checkpoint; VACUUM once a day
    watchdog_every_s: float = Field(60.0, gt=0)  # requeue jobs stuck in 'running'
    stuck_after_s: float = Field(900.0, gt=0)


class TelegramSection(_Section):
    base_url: str = ""  # e.g. "http://127.0.0.1:8081/bot" for a self-hosted Bot API server
    base_file_url: str = ""
    webhook_url: str = ""  # a public https URL: webhook mode instead of long polling
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(8443, ge=1, le=65535)
    poll_timeout_s: int = Field(30, ge=0, le=120)  # getUpdates long-polling timeout
    edit_interval_s: float = Field(1.5, ge=0.0, le=60.0)  # least time between status edits
    rate_limit: bool = True  # python-telegram-bot's AIORateLimiter (Telegram's flood limits)
    # Messages a minute the bot may send into one group (Telegram's limit is 20): paces the
    # AIORateLimiter and is the budget status messages are spent from (bot/jobs/budget.py).
    group_messages_per_min: int = Field(20, ge=1, le=20)
    status: Literal["budget", "always"] = "budget"  # always: a status message per job
    status_delay_s: float = Field(1.0, ge=0.0, le=10.0)  # a group's burst seen whole first
    shared_edit_interval_s: float = Field(10.0, ge=1.0, le=600.0)  # a busy group's status


class DiscordSection(_Section):
    moderator_roles: list[str] = Field(default_factory=list)  # role names or ids
    sync_guilds: list[int] = Field(default_factory=list)  # sync commands here at start (dev)
    edit_interval_s: float = Field(1.5, ge=0.0, le=60.0)  # least time between progress edits
    # Messages and edits the bot may send into one channel in 5 s (Discord's limit is 5): the
    # budget status edits are spent from (bot/jobs/budget.py).
    channel_messages_per_5s: int = Field(5, ge=1, le=5)
    status: Literal["budget", "always"] = "budget"  # always: every status edit is sent


class TranslationSection(_Section):
    # Online providers tried in this order before the offline translator:
    # google | mymemory | libre | deepl. [] = offline only.
    providers: list[Literal["google", "mymemory", "libre", "deepl"]] = Field(
        default_factory=lambda: ["google"])
    timeout_s: float = Field(5.0, gt=0, le=60)  # per call (deep-translator sets none)
    libre_url: str = ""  # a LibreTranslate server, e.g. "http://127.0.0.1:5000/"
    breaker_failures: int = Field(2, ge=1, le=100)  # failures in a row that open the breaker
    breaker_cooldown_s: float = Field(120.0, ge=0, le=86400)  # skip a failing provider this long

    @model_validator(mode="after")
    def _libre(self) -> TranslationSection:
        if "libre" in self.providers and not self.libre_url:
            raise ValueError("libre_url is required when providers lists libre")
        return self


class MetricsSection(_Section):
    # "host:port" for Prometheus /metrics and /healthz, e.g. "127.0.0.1:9464"; "" = off.
    # The environment variable PELUKIS_METRICS_ADDRESS wins over this (containers).
    address: str = Field("", pattern=r"^$|^(\[[0-9a-fA-F:.]+\]|[\w.\-]*):\d{1,5}$")


class Config(_Section):
    bot: BotSection = BotSection()
    metrics: MetricsSection = MetricsSection()
    engine: EngineSection = EngineSection()
    limits: LimitsSection = LimitsSection()
    storage: StorageSection = StorageSection()
    telegram: TelegramSection = TelegramSection()
    discord: DiscordSection = DiscordSection()
    safety: SafetySection = SafetySection()
    maintenance: MaintenanceSection = MaintenanceSection()
    translation: TranslationSection = TranslationSection()
    ray: RaySection = RaySection()
    root: Path = Path(".")  # folder relative paths are resolved against (the config's)

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def engine_settings(self) -> EngineSettings:
        """What the engine process starts with: [engine] as it is, its paths and CLIP model
        resolved, and the request limits and image check from [limits] and [safety]."""
        e = self.engine
        clip = e.clip_model
        if clip == "auto":
            clip = "tiny" if e.model == "tiny" else "openai/clip-vit-base-patch16"
        return EngineSettings(
            **e.model_dump(include=_ENGINE_AS_IS),
            clip_model=clip,
            adapters=str(self.path(e.adapters)),
            cache=str(self.path(e.cache)),
            min_side=32,
            max_side=self.limits.max_side,
            steps_max=self.limits.steps_max,
            upscale_max_side=self.limits.upscale_max_side,
            unsafe_concepts=list(self.safety.unsafe_concepts),
            unsafe_action=self.safety.action,
        )


    def ray_settings(self) -> RaySettings:
        """[ray] as the Ray backend takes it."""
        return RaySettings(**self.ray.model_dump())


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{'.'.join(loc)}]"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    return f"{key}: {msg}{shown}"


def load_config(path: str | Path = "config.toml", *, must_exist: bool = False) -> Config:
    """Read and validate; a missing default file means the embedded defaults."""
    path = Path(path)
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    elif must_exist:
        raise ConfigError(f"{path}: config file not found")
    address = os.environ.get("PELUKIS_METRICS_ADDRESS")
    if address and isinstance(data.setdefault("metrics", {}), dict):  # the container's choice
        data["metrics"]["address"] = address
    try:
        return Config(**data, root=path.resolve().parent)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
