"""The engine's picture-in jobs on the tiny model: img2img, variations without unCLIP and the
hi-res upscale pass, their batching, determinism, shared weights and input checks.

CPU only, offline. torch runs on one thread here: the thread count changes image bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image, ImageDraw  # noqa: E402

from engine.core import Engine  # noqa: E402
from engine.errors import EngineError, ErrorKind  # noqa: E402
from engine.protocol import BatchRequest, JobKind, JobSpec  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS = 4


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    torch.set_num_threads(1)
    cache = tmp_path_factory.getbasetemp() / "pelukis-models"
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(ROOT / "adapters"),
                                 cache=str(cache), threads=1, upscale_max_side=256))


def picture(colour: str = "red", size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG with shapes on it, so that img2img has something to keep."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 8, h // 8, w * 5 // 8, h * 5 // 8), fill=colour)
    draw.rectangle((w // 2, h // 2, w - 4, h - 4), fill="navy")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def request(kind: JobKind, *jobs: tuple[str, int, bytes], strength: float = 0.5,
            style: str | None = None, size: int = 64, steps: int = STEPS) -> BatchRequest:
    specs = [JobSpec(job_id=i + 1, prompt=p, seed=s, image=img)
             for i, (p, s, img) in enumerate(jobs)]
    return BatchRequest(style=style, width=size, height=size, steps=steps, cfg=7.5, jobs=specs,
                        job_kind=kind, strength=strength)


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_img2img_shares_every_weight_with_the_text_pipeline(engine: Engine) -> None:
    """from_pipe: the same module objects, the same parameter storage, no second copy; the
    LoRA adapters (injected into the shared UNet) are the same ones."""
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert getattr(engine.img2img, name) is getattr(engine.pipe, name), name
    for name in ("unet", "vae", "text_encoder"):
        text = {p.data_ptr() for p in getattr(engine.pipe, name).parameters()}
        img = {p.data_ptr() for p in getattr(engine.img2img, name).parameters()}
        assert img == text and len(text) > 10, name
        dtypes = {p.dtype for p in getattr(engine.img2img, name).parameters()}
        assert dtypes == {engine.dtype}, name
    assert engine.lora_styles  # the committed tiny LoRAs
    assert set(engine.img2img.get_list_adapters()["unet"]) >= set(engine.lora_styles)


def test_same_picture_prompt_seed_same_bytes_alone_or_in_a_batch(engine: Engine) -> None:
    torch.set_num_threads(1)
    pics = [picture("red"), picture("green"), picture("orange")]
    jobs = [("a cat", 1, pics[0]), ("a dog in the rain", 2, pics[1]), ("a red house", 3, pics[2])]
    together = engine.run_batch(request(JobKind.IMG2IMG, *jobs, style="kancil"))
    assert [r.job_id for r in together] == [1, 2, 3]
    for i, job in enumerate(jobs):
        alone = engine.run_batch(request(JobKind.IMG2IMG, job, style="kancil"))[0]
        assert together[i].png == alone.png, f"job {i + 1} differs in a batch"
        assert together[i].clip_score == alone.clip_score
    assert len({r.png for r in together}) == 3
    again = engine.run_batch(request(JobKind.IMG2IMG, jobs[0], style="kancil"))[0]
    assert again.png == together[0].png


def test_the_picture_and_the_strength_change_the_result(engine: Engine) -> None:
    torch.set_num_threads(1)
    base = engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 7, picture("red"))))[0].png
    other_picture = engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 7, picture("blue"))))[0]
    stronger = engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 7, picture("red")),
                                        strength=1.0))[0]
    other_seed = engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 8, picture("red"))))[0]
    assert len({base, other_picture.png, stronger.png, other_seed.png}) == 4
    assert decoded(base).size == (64, 64)


def test_a_low_strength_stays_closer_to_the_picture(engine: Engine) -> None:
    """Less denoising keeps more of the input: mean absolute pixel distance to the input
    grows with strength (on any weights, the start latents are the picture's)."""
    torch.set_num_threads(1)
    src = decoded(picture("red")).convert("RGB")

    def distance(strength: float) -> float:
        out = decoded(engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 3, picture("red")),
                                               strength=strength, steps=8))[0].png)
        a, b = src.tobytes(), out.convert("RGB").tobytes()
        return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)

    assert distance(0.125) < distance(1.0)


def test_a_picture_of_another_size_is_fitted_to_the_request(engine: Engine) -> None:
    torch.set_num_threads(1)
    out = engine.run_batch(request(JobKind.VARIATION, ("a cat", 1, picture("red", (96, 40)))))
    assert decoded(out[0].png).size == (64, 64)


def test_img2img_reports_only_the_steps_it_runs(engine: Engine) -> None:
    steps: list[tuple[int, int]] = []
    engine.run_batch(request(JobKind.IMG2IMG, ("a cat", 1, picture()), strength=0.5, steps=8),
                     on_step=lambda s, t: steps.append((s, t)))
    assert steps == [(i, 4) for i in range(1, 5)]


def test_upscale_is_a_tiled_hi_res_pass_at_the_new_size(engine: Engine) -> None:
    torch.set_num_threads(1)
    req = request(JobKind.UPSCALE, ("a cat", 5, picture("red")), strength=0.3, size=128)
    first = engine.run_batch(req)[0]
    assert (first.width, first.height) == (128, 128)
    assert decoded(first.png).size == (128, 128)
    assert engine.pipe.vae.use_tiling
    assert engine.run_batch(req)[0].png == first.png
    # the next text batch at a small size sets tiling back to its size's setting
    engine.run_batch(BatchRequest(None, 64, 64, 2, 7.5, [JobSpec(1, "a cat")]))
    assert not engine.pipe.vae.use_tiling


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"job_kind": "sketch"}, "unknown job_kind 'sketch'"),
        ({"strength": 0.0}, "strength 0.0 must be a number in (0, 1]"),
        ({"strength": 1.5}, "strength 1.5"),
        ({"strength": 0.1, "steps": 4}, "leaves no denoising step"),
        ({"image": b""}, "a img2img job needs a picture"),
        ({"image": b"not a picture at all"}, "the picture does not decode"),
        ({"image": b"GIF89a" + b"\x00" * 20}, "the picture does not decode"),
        ({"width": 2048}, "width 2048 must be a multiple of 8 in [64, 1024]"),
    ],
)
def test_bad_picture_jobs_are_refused_before_any_work(engine: Engine, change: dict,
                                                      needle: str) -> None:
    req = request(JobKind.IMG2IMG, ("a cat", 1, picture()))
    image = change.pop("image", None)
    if image is not None:
        req.jobs[0].image = image
    for key, value in change.items():
        setattr(req, key, value)
    with pytest.raises(EngineError) as err:
        engine.run_batch(req, batch_id=9)
    assert err.value.kind == ErrorKind.INVALID
    assert needle in err.value.message


def test_a_text_job_carries_no_picture(engine: Engine) -> None:
    req = BatchRequest(None, 64, 64, 2, 7.5, [JobSpec(1, "a cat", image=picture())])
    with pytest.raises(EngineError, match="a text job carries no picture"):
        engine.run_batch(req)


def test_upscale_may_go_past_max_side_up_to_its_own_cap(engine: Engine) -> None:
    req = request(JobKind.UPSCALE, ("a cat", 1, picture()), size=264)
    with pytest.raises(EngineError, match=r"width 264 must be a multiple of 8 in \[64, 256\]"):
        engine.check_inputs(req)


# ------------------------------------------------ the optional pipelines (engine/tiny_extra.py)


@pytest.fixture(scope="module")
def extra_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    torch.set_num_threads(1)
    cache = tmp_path_factory.getbasetemp() / "pelukis-models"
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(ROOT / "adapters"),
                                 cache=str(cache), threads=1, upscale_max_side=256,
                                 upscale_model="tiny", variations_model="tiny"))


def test_the_extra_pipelines_load_and_are_announced(extra_engine: Engine, engine: Engine) -> None:
    info = extra_engine.info
    assert (info.upscale_model, info.variations_model) == ("tiny", "tiny")
    assert (engine.info.upscale_model, engine.info.variations_model) == ("", "")
    assert type(extra_engine.upscaler).__name__ == "StableDiffusionUpscalePipeline"
    assert type(extra_engine.unclip).__name__ == "StableUnCLIPImg2ImgPipeline"
    assert extra_engine.upscaler.unet.config.in_channels == 7  # its own UNet, not SD 2.1's


def test_x4_upscaler_gives_the_size_alone_or_in_a_batch(extra_engine: Engine) -> None:
    torch.set_num_threads(1)
    jobs = [("a cat", 1, picture("red")), ("a dog", 2, picture("blue"))]
    steps: list[tuple[int, int]] = []
    together = extra_engine.run_batch(request(JobKind.UPSCALE, *jobs, strength=0.3, size=256),
                                      on_step=lambda s, t: steps.append((s, t)))
    assert steps == [(i, STEPS) for i in range(1, STEPS + 1)]
    for i, job in enumerate(jobs):
        assert decoded(together[i].png).size == (256, 256)
        alone = extra_engine.run_batch(request(JobKind.UPSCALE, job, strength=0.3, size=256))
        assert alone[0].png == together[i].png
    # ×2 is the x4 of the picture halved, fitted
    x2 = extra_engine.run_batch(request(JobKind.UPSCALE, jobs[0], strength=0.3, size=128))
    assert decoded(x2[0].png).size == (128, 128)


def test_unclip_variations_are_deterministic_and_batch_invariant(extra_engine: Engine) -> None:
    torch.set_num_threads(1)
    jobs = [("", 11, picture("red")), ("a dog", 12, picture("green"))]
    together = extra_engine.run_batch(request(JobKind.VARIATION, *jobs, strength=0.6))
    for i, job in enumerate(jobs):
        alone = extra_engine.run_batch(request(JobKind.VARIATION, job, strength=0.6))
        assert alone[0].png == together[i].png, f"job {i + 1} differs in a batch"
    noisier = request(JobKind.VARIATION, jobs[0], strength=0.6)
    noisier.noise_level = 500
    assert extra_engine.run_batch(noisier)[0].png != together[0].png
    other_seed = extra_engine.run_batch(request(JobKind.VARIATION, ("", 13, picture("red")),
                                                strength=0.6))
    assert other_seed[0].png != together[0].png


def test_a_reference_job_paints_the_prompt_through_unclip(extra_engine: Engine,
                                                          engine: Engine) -> None:
    torch.set_num_threads(1)
    req = request(JobKind.REFERENCE, ("a castle", 21, picture("red")), strength=0.6)
    first = extra_engine.run_batch(req)[0].png
    assert extra_engine.run_batch(req)[0].png == first
    other_prompt = request(JobKind.REFERENCE, ("a boat", 21, picture("red")), strength=0.6)
    other_picture = request(JobKind.REFERENCE, ("a castle", 21, picture("blue")), strength=0.6)
    assert len({first, extra_engine.run_batch(other_prompt)[0].png,
                extra_engine.run_batch(other_picture)[0].png}) == 3
    with pytest.raises(EngineError, match="needs \\[engine\\] variations_model"):
        engine.run_batch(req)


def test_styles_apply_to_unclip_variations(extra_engine: Engine) -> None:
    """The styles' LoRAs (made for the tiny SD 2.1-shaped UNet) load into the unCLIP
    pipeline too; a style changes a variation, and none brings the base back."""
    torch.set_num_threads(1)
    assert extra_engine.unclip_styles == extra_engine.lora_styles
    job = ("a cat", 31, picture("red"))
    base = extra_engine.run_batch(request(JobKind.VARIATION, job))[0].png
    styled = extra_engine.run_batch(request(JobKind.VARIATION, job, style="kancil"))[0].png
    assert styled != base
    assert extra_engine.run_batch(request(JobKind.VARIATION, job))[0].png == base
    # the text pipeline's adapter state is its own
    text = BatchRequest("kancil", 64, 64, 2, 7.5, [JobSpec(1, "a cat", seed=3)])
    first = extra_engine.run_batch(text)[0].png
    extra_engine.run_batch(request(JobKind.VARIATION, job))
    assert extra_engine.run_batch(text)[0].png == first
