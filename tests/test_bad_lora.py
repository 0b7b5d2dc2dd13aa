"""A bad style never takes the bot down (issue 15): a LoRA made for another base (cross-
attention 768 on the SD 2.1-shaped tiny model, whose width is 32), a corrupt file and a kohya
file diffusers itself refuses are each reported in one line naming the style, the file and
the reason; those styles are served as prompt templates and said so in ``/style``; every
other style — a kohya-format LoRA included — works; an engine that cannot start is not
restarted in a loop. In-process, through ``python -m bot generate`` and through the console
chat (dispatcher + engine process)."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engine.lora_check import LoraMisfit, ModelShape, check_lora
from tests.conftest import MODEL_CACHE, ROOT, write_config
from tests.lora_files import Chat, copy_shipped, corrupt_file, kohya_copy, sd1_lora, style_folder

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

BAD = {"sd-one": "made for SD 1.x: cross-attention 768, the model has 32",
       "broken": "not a safetensors file (corrupt or another format)",
       "badalpha": "diffusers could not load it: RuntimeError"}


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    from engine.tiny import tiny_model_dir

    return tiny_model_dir(MODEL_CACHE)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_model: Path) -> Path:
    """The shipped styles, plus: ``sd-one`` (a LoRA for another base), ``broken`` (a
    corrupt file), ``badalpha`` (kohya keys, vector alphas: diffusers raises while
    loading), and ``kohya``: kancil's LoRA and manifest with kohya's key names."""
    work = tmp_path_factory.mktemp("bad-lora")
    root = copy_shipped(work / "adapters")
    kancil = root / "kancil" / "tiny-lora.safetensors"
    style_folder(root, "sd-one", sd1_lora(work / "sd1.safetensors", tiny_model))
    style_folder(root, "broken", corrupt_file(work / "broken.safetensors"))
    style_folder(root, "badalpha", kohya_copy(kancil, work / "badalpha.safetensors", (4,)))
    manifest = (root / "kancil" / "style.toml").read_text().replace(
        'name = "kancil"', 'name = "kohya"').replace("tiny-lora.safetensors", "lora.safetensors")
    style_folder(root, "kohya", kohya_copy(kancil, work / "kohya.safetensors"), manifest=manifest)
    return root


# ---------------------------------------------------------------- the fit check, header only


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> Path:
    from safetensors.torch import save_file

    save_file({k: torch.zeros(v) for k, v in shapes.items()}, str(path))
    return path


def test_fit_check_gives_the_reason_in_words(tmp_path: Path, tiny_model: Path,
                                             adapters: Path) -> None:
    shape = ModelShape.from_folder(tiny_model)
    assert check_lora(adapters / "kancil" / "tiny-lora.safetensors", shape).format == "diffusers"
    assert check_lora(adapters / "kohya" / "lora.safetensors", shape).format == "kohya"
    attn = "unet.down_blocks.1.attentions.0.transformer_blocks.0"  # 64 channels
    cases = {
        "sd-one/lora.safetensors": BAD["sd-one"],
        "broken/lora.safetensors": BAD["broken"],
    }
    for name, reason in cases.items():
        with pytest.raises(LoraMisfit, match=re.escape(reason)):
            check_lora(adapters / name, shape)
    pickle = tmp_path / "old.ckpt"
    torch.save({"x": torch.zeros(2)}, pickle)
    wrong = {
        pickle: "a pickled PyTorch file",
        tmp_path / "empty.safetensors": "empty or truncated",
        _safetensors(tmp_path / "odd.safetensors", {"foo.bar": [2, 2]}):
            "keys in neither diffusers/peft nor kohya format",
        _safetensors(tmp_path / "loha.safetensors", {"lora_unet_x.hada_w1_a": [4, 4]}):
            "a LyCORIS file",
        _safetensors(tmp_path / "rank.safetensors", {
            f"{attn}.attn1.to_q.lora.down.weight": [4, 64],
            f"{attn}.attn1.to_q.lora.up.weight": [64, 8]}): "disagree on the rank (4 vs 8)",
        _safetensors(tmp_path / "size.safetensors", {
            f"{attn}.attn1.to_q.lora.down.weight": [4, 48],
            f"{attn}.attn1.to_q.lora.up.weight": [64, 4]}):
            "the LoRA is 48→64, the model's layer is 64→64",
        _safetensors(tmp_path / "te.safetensors", {
            "text_encoder.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight":
                [4, 768],
            "text_encoder.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight":
                [768, 4]}): "made for SD 1.x: text encoder width 768, the model's is 32",
        _safetensors(tmp_path / "xl.safetensors", {
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": [4, 1280],
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": [1280, 4]}):
            "made for SDXL",
        _safetensors(tmp_path / "other.safetensors", {
            "unet.transformer_blocks.0.attn.to_q.lora_A.weight": [4, 32],
            "unet.transformer_blocks.0.attn.to_q.lora_B.weight": [32, 4]}):
            "none of its 1 layers exists in the model",
    }
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for path, reason in wrong.items():
        with pytest.raises(LoraMisfit, match=re.escape(reason)):
            check_lora(path, shape)
    # truncated: the header promises more bytes than the file holds
    good = (adapters / "kancil" / "tiny-lora.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    with pytest.raises(LoraMisfit, match="truncated"):
        check_lora(tmp_path / "cut.safetensors", shape)
    assert struct.unpack("<Q", good[:8])[0] < len(good)


# ---------------------------------------------------------------- the engine in-process


@pytest.fixture(scope="module")
def engine(adapters: Path):
    from engine.core import Engine
    from engine.settings import EngineSettings

    torch.set_num_threads(1)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(adapters),
                                 cache=str(MODEL_CACHE), threads=1))


def _image(engine, style: str | None, seed: int = 1) -> bytes:
    from engine.protocol import BatchRequest, JobSpec

    req = BatchRequest(style=style, width=64, height=64, steps=3, cfg=7.5,
                       jobs=[JobSpec(job_id=1, prompt="a lighthouse", seed=seed)])
    return engine.run_batch(req)[0].png


def test_bad_styles_are_templates_and_every_other_style_works(engine) -> None:
    info = engine.info
    assert set(info.style_failures) == set(BAD)
    for name, reason in BAD.items():
        assert info.style_failures[name].startswith(reason), info.style_failures
        assert name in info.styles and name not in info.lora_styles
    assert info.lora_styles == ["fantasy-landscape", "kancil", "kohya", "retro-anime"]
    adapters = engine.pipe.get_list_adapters()
    assert all(set(names) <= set(info.lora_styles) for names in adapters.values()), adapters
    # the fit check (from config.json) sees the model as the loaded modules do
    folder = ModelShape.from_folder(Path(engine._model_source("tiny")))
    modules = engine._lora_shape
    assert folder.layers and all(modules.layers[k] == v for k, v in folder.layers.items())
    assert (folder.cross_attention_dim, folder.text_hidden) == (32, 32)

    none = _image(engine, None)
    kancil = _image(engine, "kancil")
    assert kancil != none
    assert _image(engine, "kohya") == kancil  # kohya keys: the same LoRA, the same image
    assert _image(engine, "retro-anime") not in (none, kancil)
    sd_one = _image(engine, "sd-one")  # its template only, LoRA off
    assert Image.open(io.BytesIO(sd_one)).size == (64, 64)
    assert _image(engine, "none") == none  # the base model is untouched


def test_one_log_line_per_bad_style(adapters: Path, caplog, capfd) -> None:
    from engine.core import Engine
    from engine.settings import EngineSettings

    with caplog.at_level("INFO"):
        Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(adapters),
                              cache=str(MODEL_CACHE), threads=1))
    out, err = capfd.readouterr()
    for name, reason in BAD.items():
        lines = [r.getMessage() for r in caplog.records if f"'{name}'" in r.getMessage()]
        assert len(lines) == 1, lines
        assert str(adapters / name / "lora.safetensors") in lines[0] and reason in lines[0]
        assert "\n" not in lines[0]
    text = out + err + caplog.text
    assert "size mismatch" not in text and "was unsuccessful" not in text


# ---------------------------------------------------------------- through the bot


def _config(tmp_path: Path, adapters: Path, **engine) -> Path:
    return write_config(tmp_path, engine={"adapters": str(adapters), **engine},
                        bot={"log_level": "INFO", "log_file": str(tmp_path / "bot.log")})


@pytest.mark.slow
def test_generate_cli_with_bad_styles_beside(tmp_path: Path, adapters: Path) -> None:
    config = _config(tmp_path, adapters)
    runs = {}
    for style in ("sd-one",):  # the bad style itself: its template, LoRA off
        out = tmp_path / f"{style}.png"
        run = subprocess.run(
            [sys.executable, "-m", "bot", "generate", "a lighthouse", "--style", style,
             "--seed", "5", "--steps", "2", "--out", str(out), "--config", str(config)],
            capture_output=True, text=True, timeout=240, cwd=ROOT)
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"style: {style}" in run.stdout
        log = tmp_path / "bot.log"
        runs[style] = (out.read_bytes(), run.stderr + log.read_text())
        log.unlink()
    for _, err in runs.values():
        for name, reason in BAD.items():
            named = [line for line in err.splitlines() if f"'{name}'" in line]
            assert len(named) == 1 and reason in named[0], err[-3000:]
        assert "size mismatch" not in err and "Traceback" not in err
    assert runs["sd-one"][0][:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_console_chat_serves_every_other_style_and_says_which_failed(
        tmp_path: Path, adapters: Path) -> None:
    config = _config(tmp_path, adapters)
    chat = Chat(config)
    for style in ("none", "kohya", "sd-one"):
        chat.say(f"/generate a lighthouse --seed 5 --steps 2 --style {style}")
    chat.until(lambda out: out.count("Saved: ") == 3)  # the engine is up: /style knows
    chat.say("/style")
    chat.say("/lang id")
    chat.say("/style")
    run = chat.close()
    assert run.returncode == 0, run.stderr[-3000:]
    saved = [Path(p).read_bytes() for p in re.findall(r"Saved: (.+)$", run.stdout, re.M)]
    assert len(saved) == 3, run.stdout
    assert saved[0] != saved[1]  # the kohya LoRA changes the image
    for name in BAD:
        assert re.search(rf"^▫️ {name} — .*could not be loaded: prompt template only\)$",
                         run.stdout, re.M), run.stdout
        assert re.search(rf"^▫️ {name} — .*gagal dimuat: hanya templat prompt\)$",
                         run.stdout, re.M), run.stdout
    assert not re.search(r"^▫️ kohya — .*⚠️", run.stdout, re.M)
    log = (tmp_path / "bot.log").read_text()
    assert log.count("engine ready in") == 1  # started once, never restarted
    for name, reason in BAD.items():
        assert len(re.findall(rf"style '{name}'.*{re.escape(reason)}", log)) == 1, log[-3000:]
    assert "size mismatch" not in log and "failed to start" not in log


@pytest.mark.slow
def test_an_engine_that_cannot_start_is_said_once_and_not_restarted(tmp_path: Path) -> None:
    config = _config(tmp_path, ROOT / "adapters", model=str(tmp_path / "no-such-model"),
                     restart_backoff_s=0.1)
    script = "/lang en\n/generate a lighthouse --steps 2\n/generate a boat --steps 2\n"
    run = subprocess.run([sys.executable, "-m", "bot", "chat", "--config", str(config)],
                         input=script, capture_output=True, text=True, timeout=240, cwd=ROOT,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("the painter can't start right now") == 2, run.stdout
    log = (tmp_path / "bot.log").read_text()
    assert log.count("engine cannot start; it will not be restarted") == 1, log[-3000:]
    assert log.count("loading ") <= 1 and "engine failed to start:" not in log.split(
        "engine cannot start")[-1]
