"""The image safety check: CLIP similarity to unsafe concepts → withhold or blur.

CPU only, offline, tiny model (random CLIP: the scores mean nothing, but are deterministic).
torch runs on one thread here: the thread count changes image bytes.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from engine.core import Engine  # noqa: E402
from engine.errors import EngineError, ErrorKind  # noqa: E402
from engine.images import blur  # noqa: E402
from engine.protocol import BatchRequest, JobSpec  # noqa: E402
from engine.safety import SafetyChecker  # noqa: E402
from engine.settings import EngineSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "adapters"
STEPS = 3
JOBS = [("a cat", 1), ("a dog in the rain", 2), ("a red house", 3), ("a tree by a lake", 4)]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same folder tests/test_engine.py uses: one tiny model per test session."""
    return tmp_path_factory.getbasetemp() / "pelukis-models"


def make(model_cache: Path, **options) -> Engine:
    torch.set_num_threads(1)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(ADAPTERS),
                                 cache=str(model_cache), threads=1, **options))


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> Engine:
    return make(model_cache)  # unsafe_action = "withhold" (the default)


@pytest.fixture(scope="module")
def blurring(model_cache: Path) -> Engine:
    return make(model_cache, unsafe_action="blur")


def batch(*jobs: tuple[str, int, float], style: str | None = "kancil") -> BatchRequest:
    specs = [JobSpec(job_id=i + 1, prompt=p, seed=s, safety_threshold=t)
             for i, (p, s, t) in enumerate(jobs)]
    return BatchRequest(style=style, width=64, height=64, steps=STEPS, cfg=7.5, jobs=specs)


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def roughness(image: Image.Image) -> float:
    """Mean absolute difference between horizontally neighbouring pixel values."""
    data = torch.frombuffer(bytearray(image.convert("L").tobytes()), dtype=torch.uint8)
    grid = data.reshape(image.height, image.width).float()
    return float((grid[:, 1:] - grid[:, :-1]).abs().mean())


# ---------------------------------------------------------------- unit


class _FakeScorer:
    def __init__(self, embeds: torch.Tensor, logit_scale: float = 100.0):
        self.embeds = embeds
        self.logit_scale = logit_scale
        self.calls = 0

    def embed_texts(self, texts):
        self.calls += 1
        assert len(texts) == len(self.embeds)
        return self.embeds


def test_check_is_the_max_clamped_cosine_and_its_concept() -> None:
    scorer = _FakeScorer(torch.eye(3))
    checker = SafetyChecker(scorer, ["a", "b", "c"])
    images = torch.nn.functional.normalize(
        torch.tensor([[0.0, 3.0, 4.0], [-1.0, -1.0, -1.0], [1.0, 0.0, 0.0]]), dim=-1)
    assert checker.check(images) == [(80.0, "c"), (0.0, "a"), (100.0, "a")]
    assert checker.check(images[:0]) == []
    assert scorer.calls == 1  # embedded at construction only
    none = SafetyChecker(scorer, [])
    assert none.check(images) == [(0.0, "")] * 3


def test_with_references_the_score_is_the_unsafe_share_of_the_softmax() -> None:
    scorer = _FakeScorer(torch.eye(3), logit_scale=100.0)
    checker = SafetyChecker(scorer, ["skull"], ["circle", "star"])
    images = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
        dim=-1)
    scores = checker.check(images)
    assert [concept for _, concept in scores] == ["skull"] * 4  # the closest unsafe one
    assert scores[0][0] == 100.0 and scores[1][0] == 0.0
    # as close to the skull as to a safe shape: an even answer, not the cosine (70.7)
    assert scores[2][0] == scores[3][0] == 50.0
    assert scorer.calls == 1


def test_blur_leaves_nothing_recognisable() -> None:
    image = Image.new("RGB", (64, 48))
    image.putdata([((x // 4 + y // 4) % 2 * 255, (x // 2 + y // 3) % 2 * 200, 60)
                   for y in range(48) for x in range(64)])
    blurred = blur(image)
    assert blurred.size == (64, 48) and blurred.mode == "RGB"
    assert roughness(blurred) < roughness(image) / 20
    assert blur(image).tobytes() == blurred.tobytes()  # deterministic


# ---------------------------------------------------------------- settings and inputs


@pytest.mark.parametrize(("options", "needle"), [
    ({"unsafe_action": "hide"}, "unsafe_action 'hide'"),
    ({"unsafe_concepts": ["gore", " "]}, "unsafe_concepts"),
    ({"unsafe_concepts": "gore"}, "unsafe_concepts"),
])
def test_bad_safety_settings_fail_at_start(model_cache: Path, options: dict,
                                           needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        make(model_cache, **options)


@pytest.mark.parametrize("threshold", [-1, 100.5, float("nan"), True, "5", None])
def test_bad_safety_threshold_is_invalid(engine: Engine, threshold: object) -> None:
    req = batch(("a cat", 1, 0.0))
    req.jobs[0].safety_threshold = threshold
    with pytest.raises(EngineError, match=f"safety_threshold {threshold!r}") as caught:
        engine.run_batch(req, on_step=lambda s, t: pytest.fail("ran a step"))
    assert caught.value.kind == ErrorKind.INVALID


def test_threshold_edges_are_accepted(engine: Engine) -> None:
    engine.check_inputs(batch(("a cat", 1, 0), ("a dog", 2, 100), ("a cow", 3, 0.5)))


# ---------------------------------------------------------------- the engine


def test_concepts_are_embedded_once_and_the_vision_tower_runs_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.world.scene import SAFE_CONCEPTS, UNSAFE_CONCEPTS

    # the tiny CLIP's: the world's skull, weighed against its other shapes
    concepts, references = list(UNSAFE_CONCEPTS), list(SAFE_CONCEPTS)
    embeds = engine.safety.concept_embeds
    assert engine.safety.concepts == concepts and engine.safety.references == references
    assert embeds.shape[0] == len(concepts) + len(references)
    assert torch.allclose(embeds.norm(dim=-1), torch.ones(len(embeds)))
    calls: dict[str, list[int]] = {"texts": [], "images": []}
    embed_texts, embed_images = engine.scorer.embed_texts, engine.scorer.embed_images

    def count_texts(texts):
        calls["texts"].append(len(texts))
        return embed_texts(texts)

    def count_images(images):
        calls["images"].append(len(images))
        return embed_images(images)

    monkeypatch.setattr(engine.scorer, "embed_texts", count_texts)
    monkeypatch.setattr(engine.scorer, "embed_images", count_images)
    torch.set_num_threads(1)
    engine.run_batch(batch(("a cat", 1, 0.001), ("a dog", 2, 50.0)))
    assert calls == {"texts": [2], "images": [2]}  # the prompts only; one vision pass
    assert engine.safety.concept_embeds is embeds


def test_flagged_when_the_score_reaches_the_threshold(engine: Engine, caplog) -> None:
    torch.set_num_threads(1)
    prompt, seed = JOBS[0]
    plain = engine.run_batch(batch((prompt, seed, 0.0)))[0]
    assert (plain.unsafe_score, plain.unsafe_concept, plain.flagged) == (0.0, "", False)
    probe = engine.run_batch(batch((prompt, seed, 100.0)))[0]
    score = probe.unsafe_score
    assert 0 < score < 100  # the tiny CLIP's score for this image (arbitrary, but fixed)
    assert not probe.flagged and probe.unsafe_concept == "" and probe.png == plain.png
    thresholds = [0.001, score, round(score + 0.001, 4), 100.0]
    with caplog.at_level(logging.INFO, logger="pelukis.engine"):
        results = engine.run_batch(batch(*[(prompt, seed, t) for t in thresholds]), batch_id=7)
    for r, t in zip(results, thresholds, strict=True):
        assert r.unsafe_score == score
        assert r.flagged == (score >= t)
        assert r.clip_score == plain.clip_score  # the check leaves the CLIP score alone
        if r.flagged:  # withhold
            assert r.png == b"" and r.unsafe_concept in engine.safety.concepts
        else:
            assert r.png == plain.png and r.unsafe_concept == ""
    assert [r.flagged for r in results] == [True, True, False, False]
    flagged_lines = [rec.getMessage() for rec in caplog.records if "flagged" in rec.getMessage()]
    assert len(flagged_lines) == 2
    assert "batch 7 job 1 " in flagged_lines[0] and results[0].unsafe_concept in flagged_lines[0]
    assert not any(prompt in line for line in flagged_lines)  # never the prompt


def test_blur_gives_a_blurred_png(blurring: Engine) -> None:
    torch.set_num_threads(1)
    prompt, seed = JOBS[1]
    plain, flagged = blurring.run_batch(batch((prompt, seed, 0.0), (prompt, seed, 0.001)))
    assert not plain.flagged and flagged.flagged and flagged.unsafe_score > 0
    assert flagged.clip_score == plain.clip_score
    original, blurred = pixels(plain.png), pixels(flagged.png)
    assert blurred.format == "PNG" and blurred.size == (64, 64) and blurred.mode == "RGB"
    assert flagged.png != plain.png
    assert roughness(blurred) < roughness(original) / 3  # the tiny world's pictures are smooth


def test_batch_equals_single_runs_with_the_check_on(blurring: Engine) -> None:
    torch.set_num_threads(1)
    thresholds = [0.001, 0.0, 100.0, 0.001]
    jobs = [(p, s, t) for (p, s), t in zip(JOBS, thresholds, strict=True)]
    together = blurring.run_batch(batch(*jobs))
    assert [r.flagged for r in together] == [True, False, False, True]
    for i, job in enumerate(jobs):
        alone = blurring.run_batch(batch(job))[0]
        assert together[i].png == alone.png, f"job {i + 1} differs in a batch"
        assert (together[i].clip_score, together[i].unsafe_score, together[i].unsafe_concept,
                together[i].flagged) == (alone.clip_score, alone.unsafe_score,
                                         alone.unsafe_concept, alone.flagged)
    assert len({r.png for r in together}) == 4
