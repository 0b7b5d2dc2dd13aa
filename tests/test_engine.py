"""The engine in-process: tiny model, LoRA styles, batches, CLIP score, input checks.

CPU only, offline. torch runs on one thread here: the thread count changes image bytes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine import tiny  # noqa: E402
from engine.core import Engine  # noqa: E402
from engine.errors import EngineError, ErrorKind  # noqa: E402
from engine.protocol import BatchRequest, JobSpec  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402
from engine.styles import StyleRegistry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "adapters"
STEPS = 3


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model per test session (the process tests find the same folder)."""
    return tmp_path_factory.getbasetemp() / "pelukis-models"


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> Engine:
    torch.set_num_threads(1)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(ADAPTERS),
                                 cache=str(model_cache), threads=1))


def batch(style: str | None, *jobs: tuple[str, int], steps: int = STEPS,
          negative: str = "", **kw) -> BatchRequest:
    specs = [JobSpec(job_id=i + 1, prompt=p, negative=negative, seed=s)
             for i, (p, s) in enumerate(jobs)]
    fields = {"width": 64, "height": 64, "steps": steps, "cfg": 7.5, **kw}
    return BatchRequest(style=style, jobs=specs, **fields)


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


# ---------------------------------------------------------------- tiny model


def test_tokenizer_is_the_real_clip_bpe(engine: Engine) -> None:
    tok = engine.pipe.tokenizer
    assert len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tok.pad_token_id == 0 and tok.model_max_length == 77  # SD 2.x pads with "!"
    assert engine.pipe.text_encoder.config.eos_token_id == tok.eos_token_id == 49407


def test_tiny_model_is_sd21_shaped_small_and_assembled_the_same(
    engine: Engine, model_cache: Path, tmp_path: Path
) -> None:
    folder = tiny.tiny_model_dir(model_cache)
    assert tiny.folder_size(tiny.weights_root()) < 20_000_000  # what the repository ships
    assert engine.pipe.scheduler.config.prediction_type == "v_prediction"
    assert type(engine.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert engine.pipe.scheduler.config.algorithm_type == "dpmsolver++"
    assert engine.pipe.unet.config.use_linear_projection
    assert engine.native_size == 64
    again = tmp_path / "again"
    tiny._atomic_build(again, tiny._assemble(tiny._weights("tiny")))  # byte for byte the same
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (folder / rel).read_bytes() == (again / rel).read_bytes(), rel
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-built dirs


def test_every_style_has_trained_tiny_weights_recorded_in_its_manifest() -> None:
    """The styles' tiny LoRAs come from engine.world.train (engine.train's LoRA trainer on
    the restyled world): the manifest's [training] table says so."""
    import tomllib

    registry = StyleRegistry.load(ADAPTERS)
    for style in registry:
        assert style.weights_for(True) is not None, style.name
        manifest = tomllib.loads((style.folder / "style.toml").read_text(encoding="utf-8"))
        assert manifest["training"]["steps"] > 0, style.name



def test_ready_info(engine: Engine) -> None:
    info = engine.info
    assert (info.model, info.device, info.dtype) == ("tiny", "cpu", "float32")
    assert (info.width, info.height) == (64, 64)
    assert info.styles == ["fantasy-landscape", "kancil", "retro-anime"]
    assert info.lora_styles == info.styles
    assert info.test_model is True and info.load_s > 0
    json.dumps(info.to_dict())


# ---------------------------------------------------------------- images


def test_same_request_same_bytes(engine: Engine) -> None:
    torch.set_num_threads(1)
    req = batch("retro-anime", ("a cat on a roof", 42))
    first = engine.run_batch(req, batch_id=1)
    engine.run_batch(batch("kancil", ("something else", 7)))  # state in between
    second = engine.run_batch(req, batch_id=2)
    assert first[0].png == second[0].png and second[0].batch_id == 2
    assert first[0].clip_score == second[0].clip_score
    image = pixels(first[0].png)
    assert image.format == "PNG" and image.size == (64, 64) and image.mode == "RGB"
    assert not image.info  # no metadata chunks: bytes depend on pixels only
    r = first[0]
    assert (r.batch_id, r.job_id, r.seed, r.width, r.height) == (1, 1, 42, 64, 64)
    assert r.generate_s > 0 and r.score_s > 0


def test_styles_change_the_image_and_none_restores_the_base(engine: Engine) -> None:
    torch.set_num_threads(1)
    job = ("a lighthouse at dusk", 1234)
    base = engine.run_batch(batch(None, job))[0].png
    styled = {name: engine.run_batch(batch(name, job))[0].png
              for name in ("kancil", "retro-anime", "fantasy-landscape")}
    assert len(set(styled.values()) | {base}) == 4
    assert engine.run_batch(batch(None, job))[0].png == base  # disable_lora restores the base
    assert engine.run_batch(batch("none", job))[0].png == base
    assert engine.run_batch(batch("kancil", job))[0].png == styled["kancil"]
    # the adapter makes a visible difference, not a last-bit one
    diff = [abs(a - b) for a, b in zip(pixels(base).tobytes(), pixels(styled["kancil"]).tobytes(),
                                       strict=True)]
    assert sum(diff) / len(diff) > 5


def test_style_without_weights_is_a_template(engine: Engine) -> None:
    """A template-only style runs the base model with the style's prompt and negative."""
    torch.set_num_threads(1)
    style = engine.registry.get("kancil")
    job = ("a river", 5)
    engine.lora_styles.remove("kancil")
    try:
        templated = engine.run_batch(batch("kancil", job))[0].png
        assert engine._active is None
    finally:
        engine.lora_styles.append("kancil")
        engine.lora_styles.sort()
    manual = engine.run_batch(batch(None, (style.render("a river"), 5),
                                    negative=style.negative_for("")))[0]
    assert templated == manual.png


def test_batch_equals_single_runs(engine: Engine) -> None:
    torch.set_num_threads(1)
    jobs = [("a cat", 1), ("a dog in the rain", 2), ("a red house", 3), ("a tree by a lake", 4)]
    req = batch("kancil", *jobs, negative="blurry")
    together = engine.run_batch(req)
    assert [r.job_id for r in together] == [1, 2, 3, 4]
    for i, job in enumerate(jobs):
        alone = engine.run_batch(batch("kancil", job, negative="blurry"))[0]
        assert together[i].png == alone.png, f"job {i + 1} differs in a batch"
        assert together[i].clip_score == alone.clip_score
    assert len({r.png for r in together}) == 4


def test_clip_score_range_and_determinism(engine: Engine) -> None:
    torch.set_num_threads(1)
    results = engine.run_batch(batch(None, ("a cat", 1), ("a blue car", 2)))
    for r in results:
        assert 0.0 <= r.clip_score <= 100.0
    images = [pixels(r.png) for r in results]
    texts = ["a cat", "a blue car"]
    again = engine.scorer.score(images, texts)
    assert again == engine.scorer.score(images, texts)
    assert again == [r.clip_score for r in results]
    # the definition: 100 × max(cos, 0) of the projected embeddings
    cos = (engine.scorer.embed_images(images) * engine.scorer.embed_texts(texts)).sum(-1)
    assert again == [round(100 * max(float(c), 0.0), 4) for c in cos]
    assert engine.scorer.score([], []) == []


def test_progress_and_abort(engine: Engine) -> None:
    steps: list[tuple[int, int]] = []
    engine.run_batch(batch(None, ("a cat", 1), steps=4), on_step=lambda s, t: steps.append((s, t)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]

    seen: list[int] = []
    with pytest.raises(EngineError) as caught:
        engine.run_batch(batch("kancil", ("a cat", 1), steps=20),
                         on_step=lambda s, t: seen.append(s), should_abort=lambda: len(seen) >= 2)
    assert caught.value.kind == ErrorKind.ABORTED
    assert seen == [1, 2]
    with pytest.raises(EngineError) as caught:  # aborted before it started: not even one step
        engine.run_batch(batch(None, ("a cat", 1)), on_step=lambda s, t: seen.append(s),
                         should_abort=lambda: True)
    assert caught.value.kind == ErrorKind.ABORTED
    assert seen == [1, 2]
    assert engine.pipe.interrupt  # pipe resets the flag on its next call
    assert len(engine.run_batch(batch(None, ("a cat", 1)))) == 1


def test_out_of_memory_becomes_engine_oom(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.run_batch(batch(None, ("a cat", 1), steps=1))  # adapters off: no pipe calls to switch

    def oom(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(engine, "pipe", oom)
    with pytest.raises(EngineError, match="out of memory with 1 images of 64x64") as caught:
        engine.run_batch(batch(None, ("a cat", 1), steps=1))
    assert caught.value.kind == ErrorKind.OOM


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"style": "watercolour"}, "'watercolour'"),
        ({"width": 65}, "width 65"),
        ({"height": 56}, "height 56"),  # below min_side 64
        ({"width": 2048}, "width 2048"),
        ({"steps": 0}, "steps 0"),
        ({"steps": 101}, "steps 101"),
        ({"steps": 2.5}, "steps 2.5"),
        ({"cfg": 0}, "cfg 0"),
        ({"cfg": 31.0}, "cfg 31.0"),
        ({"cfg": float("nan")}, "cfg nan"),
        ({"jobs": []}, "0 jobs"),
        ({"jobs": [JobSpec(i, "a cat", seed=i) for i in range(5)]}, "5 jobs"),
        ({"jobs": [JobSpec(1, "a cat", seed=-1)]}, "seed -1"),
        ({"jobs": [JobSpec(1, "a cat", seed=2**32)]}, f"seed {2**32}"),
        ({"jobs": [JobSpec(1, "   ", seed=1)]}, "prompt '   '"),
        ({"jobs": [JobSpec(1, "a", seed=1), JobSpec(1, "b", seed=2)]}, "job ids [1, 1]"),
    ],
)
def test_check_inputs_names_the_bad_value(engine: Engine, change: dict, needle: str) -> None:
    req = batch("kancil", ("a cat", 1))
    for key, value in change.items():
        setattr(req, key, value)
    with pytest.raises(EngineError) as caught:
        engine.run_batch(req, on_step=lambda s, t: pytest.fail("ran a step"))
    assert needle in caught.value.message
    assert caught.value.kind == ErrorKind.INVALID


def test_check_inputs_accepts_edges(engine: Engine) -> None:
    req = batch("none", ("a cat", 0), ("a dog", 2**32 - 1), steps=1, cfg=30)
    engine.check_inputs(req)
    req.style = None
    req.cfg = 0.5
    engine.check_inputs(req)
