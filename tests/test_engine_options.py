"""The GPU-path options, exercised on the CPU: settings, defaults, what each one does to the
pipeline, and that none of them changes an image it must not change.

CUDA-only calls (TF32 switches, free-memory queries, offload) are covered by their CPU
fallbacks and the pure helpers; torch.compile is checked up to the (lazy) compile call.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from bot.config import ConfigError, load_config  # noqa: E402
from engine import gpu  # noqa: E402
from engine.core import Engine  # noqa: E402
from engine.gpu import batch_cap, estimate_image_bytes, resolve_auto  # noqa: E402
from engine.protocol import BatchRequest, JobSpec, ReadyInfo  # noqa: E402
from engine.settings import SCHEDULERS, EngineSettings  # noqa: E402
from tests.conftest import ROOT, write_config  # noqa: E402

ADAPTERS = ROOT / "adapters"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "pelukis-models"


def make(model_cache: Path, adapters: Path = ADAPTERS, **options) -> Engine:
    torch.set_num_threads(1)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(adapters),
                                 cache=str(model_cache), threads=1, **options))


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> Engine:
    return make(model_cache)


def request(style: str | None, n: int = 1, size: int = 64, steps: int = 3) -> BatchRequest:
    jobs = [JobSpec(job_id=i + 1, prompt=f"a cat number {i}", seed=100 + i) for i in range(n)]
    return BatchRequest(style=style, width=size, height=size, steps=steps, cfg=7.5, jobs=jobs)


def pixels(png: bytes) -> list[int]:
    return list(Image.open(io.BytesIO(png)).convert("RGB").tobytes())


def mean_abs_diff(a: bytes, b: bytes) -> float:
    pa, pb = pixels(a), pixels(b)
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


# ---------------------------------------------------------------- settings


def test_config_keys_reach_the_engine_settings(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, engine={
        "channels_last": True, "tf32": False, "compile": True, "compile_mode": "max-autotune",
        "vae_slicing": "auto", "vae_tiling": True, "vae_slicing_above": 256,
        "cpu_offload": False, "fuse_lora": True, "memory_per_image_mb": 900,
        "memory_reserve_mb": 512, "encode_threads": 0, "attention": "default",
        "warmup": False, "offload_below_gb": 4}))
    s = config.engine_settings()
    assert (s.channels_last, s.tf32, s.compile, s.compile_mode) == (
        True, False, True, "max-autotune")
    assert (s.vae_slicing, s.vae_tiling, s.vae_slicing_above) == ("auto", True, 256)
    assert (s.cpu_offload, s.fuse_lora, s.memory_per_image_mb, s.memory_reserve_mb) == (
        False, True, 900, 512)
    assert (s.encode_threads, s.attention, s.warmup, s.offload_below_gb) == (
        0, "default", False, 4)
    assert EngineSettings.from_json(s.to_json()) == s  # travels to the engine process


def test_defaults_are_sensible() -> None:
    s = load_config(Path("/nonexistent/config.toml")).engine_settings()
    assert s.compile is False and s.fuse_lora is False
    assert s.attention == "sdpa"
    assert s.channels_last == s.tf32 == s.cpu_offload == s.vae_slicing == "auto"
    assert s.encode_threads == 2
    # the committed config.toml says the same
    shipped = load_config(ROOT / "config.toml").engine_settings()
    assert (shipped.compile, shipped.fuse_lora, shipped.channels_last) == (False, False, "auto")


@pytest.mark.parametrize(("key", "value"), [
    ("channels_last", "sometimes"), ("compile_mode", "fast"), ("attention", "xformers"),
    ("encode_threads", -1), ("vae_slicing_above", 0), ("memory_per_image_mb", -5),
])
def test_bad_option_names_the_key(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"\[engine\] {key}"):
        load_config(write_config(tmp_path, engine={key: value}))


def test_ready_info_without_new_fields_still_parses() -> None:
    old = {"kind": "ready", "model": "tiny", "device": "cpu", "dtype": "float32", "width": 64,
           "height": 64, "styles": [], "lora_styles": [], "test_model": True}
    info = ReadyInfo.from_dict(old)
    assert (info.max_batch, info.batch_pixels, info.options) == (0, 0, {})


# ---------------------------------------------------------------- pure helpers


def test_resolve_auto() -> None:
    assert resolve_auto("auto", True) is True and resolve_auto("auto", False) is False
    assert resolve_auto(True, False) is True and resolve_auto(False, True) is False
    assert resolve_auto("on", False) is True and resolve_auto("off", True) is False
    with pytest.raises(ValueError, match="maybe"):
        resolve_auto("maybe", True)


def test_batch_cap_math() -> None:
    gib = 2**30
    assert batch_cap(8, None, gib) == 8  # CPU: nothing to ask
    assert batch_cap(8, 10 * gib, 0) == 8  # no estimate
    assert batch_cap(8, 10 * gib, gib, reserve_bytes=gib) == 8  # 9 fit, capped at 8
    assert batch_cap(8, 5 * gib, gib, reserve_bytes=gib) == 4
    assert batch_cap(8, int(4.5 * gib), gib, reserve_bytes=gib) == 3  # whole images only
    assert batch_cap(8, gib // 2, gib, reserve_bytes=gib) == 1  # never below one: OOM split
    # the estimate scales with pixels and bytes per value
    fp16_768 = estimate_image_bytes(768, 768, torch.float16)
    assert 0.7 * gib < fp16_768 < 1.1 * gib
    assert estimate_image_bytes(768, 768, torch.float32) == pytest.approx(2 * fp16_768, 1e-6)
    assert estimate_image_bytes(512, 512, torch.float16) < fp16_768 / 2


# ---------------------------------------------------------------- the engine on CPU


def test_cpu_defaults(engine: Engine) -> None:
    o = engine.options
    assert o["attention"] == "AttnProcessor2_0"  # SDPA everywhere
    assert {type(p).__name__ for p in engine.pipe.vae.attn_processors.values()} == {
        "AttnProcessor2_0"}
    assert o["channels_last"] is False and o["tf32"] is False and o["compile"] is False
    assert o["cpu_offload"] is False and o["fuse_lora"] is False
    assert engine.warmup_s == 0.0  # no warm-up on CPU by default
    assert engine.max_batch == engine.info.max_batch == 4  # no GPU memory to cap by
    assert engine.info.batch_pixels == 4 * 64 * 64
    assert engine.info.options == o
    assert not engine.pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_every_scheduler_the_config_allows_is_built(engine: Engine) -> None:
    from engine.core import make_scheduler

    sd21 = {**engine.pipe.scheduler.config, "rescale_betas_zero_snr": False,
            "timestep_spacing": "leading"}  # SD 2.1's own schedule
    built = {name: type(make_scheduler(sd21, name)).__name__ for name in SCHEDULERS}
    assert built["dpm++"] == "DPMSolverMultistepScheduler" and len(set(built.values())) == 5
    # tiny is trained to zero terminal SNR: every scheduler keeps that, PNDM cannot sample it
    tiny = engine.pipe.scheduler.config
    assert tiny["rescale_betas_zero_snr"] and tiny["timestep_spacing"] == "trailing"
    for name in (n for n in SCHEDULERS if n != "pndm"):
        sched = make_scheduler(tiny, name)
        assert sched.config.rescale_betas_zero_snr and sched.alphas_cumprod[-1] < 1e-6
    with pytest.raises(ValueError, match="zero terminal SNR"):
        make_scheduler(tiny, "pndm")
    with pytest.raises(ValueError, match="unknown scheduler 'lms'"):
        make(Path("/nonexistent"), scheduler="lms")  # refused before anything is loaded


def test_sdpa_is_enforced(model_cache: Path) -> None:
    from diffusers.models.attention_processor import AttnProcessor

    e = make(model_cache, attention="default")
    e.pipe.unet.set_attn_processor(AttnProcessor())  # the classic, matrix-materialising one
    assert gpu.attention_kind(e.pipe.unet) == "AttnProcessor"
    gpu.use_sdpa(e.pipe.unet)
    assert gpu.attention_kind(e.pipe.unet) == "AttnProcessor2_0"


def test_png_encoding_in_the_pool_gives_the_same_bytes(engine: Engine) -> None:
    assert engine._encoder is not None
    pooled = engine.run_batch(request("kancil", n=2))
    encoder, engine._encoder = engine._encoder, None
    try:
        inline = engine.run_batch(request("kancil", n=2))
    finally:
        engine._encoder = encoder
    assert [r.png for r in pooled] == [r.png for r in inline]
    assert [r.clip_score for r in pooled] == [r.clip_score for r in inline]


def test_vae_slicing_and_tiling_follow_the_size(model_cache: Path, engine: Engine) -> None:
    vae = engine.pipe.vae
    engine.run_batch(request(None, n=2))
    assert not vae.use_slicing and not vae.use_tiling  # 64 px: below both thresholds
    sliced = make(model_cache, vae_slicing_above=32, vae_tiling_above=4096, min_side=32)
    got = sliced.run_batch(request(None, n=2))
    assert sliced.pipe.vae.use_slicing and not sliced.pipe.vae.use_tiling
    # slicing decodes one image at a time: on CPU the same bytes as the batched decode
    assert [r.png for r in got] == [r.png for r in engine.run_batch(request(None, n=2))]
    sliced.run_batch(request(None, n=1, size=32))  # 32 px: not above 32 → off again
    assert not sliced.pipe.vae.use_slicing
    forced = make(model_cache, vae_tiling=True, vae_slicing=False)
    forced.run_batch(request(None))
    assert forced.pipe.vae.use_tiling and not forced.pipe.vae.use_slicing


def test_channels_last_is_applied(model_cache: Path, engine: Engine) -> None:
    e = make(model_cache, channels_last=True)
    assert e.options["channels_last"] is True
    assert e.pipe.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    got = e.run_batch(request("kancil"))[0].png
    ref = engine.run_batch(request("kancil"))[0].png
    assert mean_abs_diff(got, ref) < 1.0  # the same image; the last bits may differ


def test_compile_is_off_by_default_and_lazy_when_on(model_cache: Path, engine: Engine) -> None:
    assert getattr(engine.pipe.unet, "_compiled_call_impl", None) is None
    e = make(model_cache, compile=True, compile_mode="default", warmup=False)
    assert e.options["compile"] == "default"
    assert e.pipe.unet._compiled_call_impl is not None  # compiled on its first call
    assert e.warmup_s == 0.0
    with pytest.raises(ValueError, match="compile_mode"):
        make(model_cache, compile=True, compile_mode="fast")


def test_warm_up_runs_each_adapter_state(model_cache: Path, monkeypatch) -> None:
    """With compile on, the warm-up covers batch 1 and max_batch for the base model and
    every LoRA style (each is a graph of its own); here compile itself is stubbed out."""
    calls: list[tuple[int, str | None]] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: None)
    original = Engine._switch_adapter

    def spy(self, style):
        original(self, style)
        calls.append(self._active)

    monkeypatch.setattr(Engine, "_switch_adapter", spy)
    e = make(model_cache, compile=True, max_batch=2)
    assert e.warmup_s > 0
    assert calls[:8] == [None, "fantasy-landscape", "kancil", "retro-anime"] * 2
    assert e._active is None


def test_fused_lora_matches_set_adapters(model_cache: Path, engine: Engine,
                                         tmp_path: Path) -> None:
    single = tmp_path / "adapters"
    shutil.copytree(ADAPTERS / "kancil", single / "kancil")
    fused = make(model_cache, adapters=single, fuse_lora=True)
    assert fused.lora_styles == ["kancil"] and fused.fuse
    a = fused.run_batch(request("kancil", n=2))
    assert fused._fused == "kancil" and fused.options["fuse_lora"] == "kancil"
    b = engine.run_batch(request("kancil", n=2))
    for x, y in zip(a, b, strict=True):
        assert mean_abs_diff(x.png, y.png) < 1.0  # W + BA·s vs Wx + B(Ax)·s: rounding only
    # a base-model request unfuses; the style again fuses again, same image as before
    base = fused.run_batch(request(None))[0].png
    assert fused._fused is None
    assert mean_abs_diff(base, engine.run_batch(request(None))[0].png) < 1.0
    assert mean_abs_diff(base, a[0].png) > 5  # and it really is the base model
    again = fused.run_batch(request("kancil", n=2))
    assert fused._fused == "kancil"
    assert all(mean_abs_diff(x.png, y.png) < 0.5 for x, y in zip(a, again, strict=True))


def test_fuse_lora_needs_exactly_one_style(model_cache: Path) -> None:
    e = make(model_cache, fuse_lora=True)  # three LoRA styles: stays on set_adapters
    assert not e.fuse and e.options["fuse_lora"] is False
    e.run_batch(request("kancil"))
    assert e._fused is None and e._active == "kancil"
