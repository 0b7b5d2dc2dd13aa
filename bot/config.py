"""Typed configuration from ``config.toml``, validated once at start.

A bad value stops the program with one line that names the key (``ConfigError``).
Secrets (bot tokens, API keys) never live here: they come from the environment.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.protocol import EngineSettings


class ConfigError(Exception):
    """One line for the operator, naming the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    language: Literal["id", "en"] = "id"  # when neither user, chat nor platform says
    moderators: list[str] = Field(default_factory=list)  # "telegram:123", "discord:456", ids
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    default_style: str = "none"  # a chat's style until someone picks one


class EngineSection(_Section):
    model: str = Field("tiny", min_length=1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    clip_model: str = Field("auto", min_length=1)  # auto: tiny for tiny, else CLIP ViT-B/16
    scheduler: Literal["dpm++", "ddim", "euler", "euler-a", "pndm"] = "dpm++"
    max_batch: int = Field(4, ge=1, le=64)
    batch_window_ms: int = Field(30, ge=0, le=5000)  # a burst's wait to fill a batch
    threads: int = Field(0, ge=0, le=256)  # torch CPU threads, 0 = torch's default
    adapters: str = "adapters"
    cache: str = "var/models"  # where the tiny model is built
    max_attempts: int = Field(3, ge=1, le=10)  # runs of one job before the user gets an apology
    restart_backoff_s: float = Field(1.0, ge=0, le=300)
    # the GPU path; "auto" = on for CUDA (see engine/core.py)
    attention: Literal["sdpa", "default"] = "sdpa"
    channels_last: bool | Literal["auto"] = "auto"
    tf32: bool | Literal["auto"] = "auto"
    compile: bool = False  # torch.compile the UNet (compiled at start, not in a request)
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "reduce-overhead"
    warmup: bool | Literal["auto"] = "auto"
    vae_slicing: bool | Literal["auto"] = "auto"
    vae_tiling: bool | Literal["auto"] = "auto"
    vae_slicing_above: int = Field(512, ge=32, le=8192)
    vae_tiling_above: int = Field(1024, ge=32, le=8192)
    cpu_offload: bool | Literal["auto"] = "auto"
    offload_below_gb: float = Field(6.0, ge=0, le=1024)
    fuse_lora: bool = False  # a deployment that runs a single LoRA style
    memory_per_image_mb: float = Field(0.0, ge=0, le=1_000_000)  # 0 = measure at start
    memory_reserve_mb: float = Field(1024.0, ge=0, le=1_000_000)
    encode_threads: int = Field(2, ge=0, le=32)
    fault_oom_above: int = Field(0, ge=0)  # tests only: batches above this size "run out of memory"


class LimitsSection(_Section):
    prompt_max_chars: int = Field(1000, ge=10, le=20000)
    negative_max_chars: int = Field(500, ge=0, le=20000)
    cfg_min: float = Field(1.0, ge=0.0)
    cfg_max: float = Field(20.0, le=30.0)
    default_cfg: float = 7.5
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

    @model_validator(mode="after")
    def _ranges(self) -> LimitsSection:
        if not self.cfg_min <= self.default_cfg <= self.cfg_max:
            raise ValueError("default_cfg must lie within cfg_min..cfg_max")
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
    # The tiny test model's CLIP is random: its unsafe scores mean nothing, so its images
    # are not checked unless this says so (tests of the check itself).
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


class DiscordSection(_Section):
    moderator_roles: list[str] = Field(default_factory=list)  # role names or ids
    sync_guilds: list[int] = Field(default_factory=list)  # sync commands here at start (dev)
    edit_interval_s: float = Field(1.5, ge=0.0, le=60.0)  # least time between progress edits


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


class Config(_Section):
    bot: BotSection = BotSection()
    engine: EngineSection = EngineSection()
    limits: LimitsSection = LimitsSection()
    storage: StorageSection = StorageSection()
    telegram: TelegramSection = TelegramSection()
    discord: DiscordSection = DiscordSection()
    safety: SafetySection = SafetySection()
    maintenance: MaintenanceSection = MaintenanceSection()
    translation: TranslationSection = TranslationSection()
    root: Path = Path(".")  # folder relative paths are resolved against (the config's)

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def engine_settings(self) -> EngineSettings:
        e = self.engine
        clip = e.clip_model
        if clip == "auto":
            clip = "tiny" if e.model == "tiny" else "openai/clip-vit-base-patch16"
        return EngineSettings(
            model=e.model,
            device=e.device,
            dtype=e.dtype,
            clip_model=clip,
            adapters_dir=str(self.path(e.adapters)),
            cache_dir=str(self.path(e.cache)),
            scheduler=e.scheduler,
            max_batch=e.max_batch,
            num_threads=e.threads,
            min_size=32,
            max_size=self.limits.max_side,
            max_steps=self.limits.steps_max,
            attention=e.attention,
            channels_last=e.channels_last,
            tf32=e.tf32,
            compile=e.compile,
            compile_mode=e.compile_mode,
            warmup=e.warmup,
            vae_slicing=e.vae_slicing,
            vae_tiling=e.vae_tiling,
            vae_slicing_above=e.vae_slicing_above,
            vae_tiling_above=e.vae_tiling_above,
            cpu_offload=e.cpu_offload,
            offload_below_gb=e.offload_below_gb,
            fuse_lora=e.fuse_lora,
            memory_per_image_mb=e.memory_per_image_mb,
            memory_reserve_mb=e.memory_reserve_mb,
            encode_threads=e.encode_threads,
            fault_oom_above=e.fault_oom_above,
            unsafe_concepts=list(self.safety.unsafe_concepts),
            unsafe_action=self.safety.action,
        )


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
    try:
        return Config(**data, root=path.resolve().parent)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
