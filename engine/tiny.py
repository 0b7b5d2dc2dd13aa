"""The `tiny` test model: an SD-2.1-shaped pipeline with small random weights, built offline.

`tiny` exists so the whole engine (pipeline, LoRA switching, batching, CLIP score, process
loop) runs on a CPU in tests with exactly the code path of a real model: it is saved with
``save_pretrained`` and loaded back with the same ``from_pretrained(folder)`` call. Weights are
random (fixed seeds), so images are structured noise and CLIP scores mean nothing.

Shape, as SD 2.1 (768-v): UNet with linear-projection transformers and per-block head counts,
AutoencoderKL, CLIPTextModel with SD 2's tokenizer settings (pad "!"), DDIM scheduler config
with ``prediction_type="v_prediction"``. The tokenizer is the real CLIP BPE tokenizer, built
from ``engine/assets/bpe_simple_vocab_16e6.txt.gz`` (MIT, from open_clip).

Commands::

    python -m engine.tiny [--cache-dir var/models]   # build the tiny model folders
    python -m engine.tiny --loras [--adapters-dir adapters]   # regenerate tiny-lora.safetensors
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("pelukis.engine")

ASSETS = Path(__file__).resolve().parent / "assets"
BPE_FILE = ASSETS / "bpe_simple_vocab_16e6.txt.gz"

TINY = "tiny"
TINY_DIR = "tiny-v1"  # bump the suffix when the recipe changes
TINY_CLIP_DIR = "tiny-clip-v1"
TINY_LORA = "tiny-lora.safetensors"

SEED = 20240521
VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
BOS_ID, EOS_ID = 49406, 49407
MAX_LENGTH = 77
HIDDEN = 32  # text hidden size = UNet cross-attention dim = CLIP projection dim

LORA_RANK = 4
LORA_STD = 0.35  # large enough that every style visibly changes the image
UNET_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


# --------------------------------------------------------------------------- tokenizer


def bytes_to_unicode() -> dict[int, str]:
    """The byte → printable character map of GPT-2 / CLIP BPE."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """vocab (49408 entries) and merges exactly as OpenAI CLIP's SimpleTokenizer builds them."""
    lines = gzip.decompress(BPE_FILE.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    base = list(bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base]
    vocab += ["".join(m.split()) for m in merges]
    vocab += [BOS, EOS]
    if len(vocab) != VOCAB_SIZE:
        raise RuntimeError(f"CLIP vocabulary has {len(vocab)} entries, expected {VOCAB_SIZE}")
    return {tok: i for i, tok in enumerate(vocab)}, merges


def write_tokenizer(folder: Path) -> None:
    """vocab.json + merges.txt + tokenizer_config.json, as in stabilityai/stable-diffusion-2-1."""
    vocab, merges = clip_vocab_and_merges()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": "!",  # SD 2.x pads with "!" (id 0)
        "model_max_length": MAX_LENGTH,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


# --------------------------------------------------------------------------- models


def _text_config(**extra):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        hidden_act="gelu",  # SD 2's OpenCLIP ViT-H text tower uses gelu
        projection_dim=HIDDEN,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,  # pooling takes the first <|endoftext|>
        pad_token_id=0,
        **extra,
    )


def _build_pipeline_components() -> dict:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=HIDDEN,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        norm_num_groups=32,
    )
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=64,
    )
    torch.manual_seed(SEED + 2)
    text_encoder = CLIPTextModel(_text_config())
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",  # SD 2.1 (768) is a v-prediction model
        timestep_spacing="leading",
    )
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "scheduler": scheduler}


def _atomic_build(target: Path, build) -> Path:
    """Run ``build(tmp_folder)`` in a temp folder beside ``target``, then rename it into place."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tmp.chmod(0o755)
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # another process may have won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build_tiny(folder: Path) -> None:
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    write_tokenizer(folder / "_tok")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "_tok")
    shutil.rmtree(folder / "_tok")
    pipe = StableDiffusionPipeline(
        **_build_pipeline_components(),
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    # Keep the small, canonical vocab.json/merges.txt form of the tokenizer.
    shutil.rmtree(folder / "tokenizer")
    write_tokenizer(folder / "tokenizer")


def _build_tiny_clip(folder: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vision = CLIPVisionConfig(
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=4,
        projection_dim=HIDDEN,
    )
    text = _text_config()
    text.num_hidden_layers = 2
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=HIDDEN
    )
    torch.manual_seed(SEED + 3)
    model = CLIPModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    write_tokenizer(folder)


def tiny_model_dir(cache_dir: str | Path) -> Path:
    """The tiny pipeline folder, built on first use."""
    target = Path(cache_dir) / TINY_DIR
    if not target.is_dir():
        log.info("building the tiny test model in %s", target)
    return _atomic_build(target, _build_tiny)


def tiny_clip_dir(cache_dir: str | Path) -> Path:
    """The tiny CLIP (text + vision) folder, built on first use."""
    return _atomic_build(Path(cache_dir) / TINY_CLIP_DIR, _build_tiny_clip)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- LoRAs


def _style_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"pelukis-tiny-lora:{name}".encode()).digest()[:4], "big")


def make_tiny_lora(pipe, name: str, path: Path) -> Path:
    """Random-but-distinct LoRA for ``pipe`` (the tiny pipeline), seeded by the style name,
    saved in diffusers/peft format (``pipe.load_lora_weights`` loads it)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    adapter = f"_tiny_lora_{name}"  # never clashes with adapters already loaded
    unet_cfg = LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=UNET_LORA_TARGETS)
    text_cfg = LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=TEXT_LORA_TARGETS)
    pipe.unet.add_adapter(unet_cfg, adapter_name=adapter)
    pipe.text_encoder.add_adapter(text_cfg, adapter_name=adapter)
    gen = torch.Generator().manual_seed(_style_seed(name))
    with torch.no_grad():
        for model in (pipe.unet, pipe.text_encoder):
            for pname, param in sorted(model.named_parameters()):
                if f".lora_A.{adapter}." in pname or f".lora_B.{adapter}." in pname:
                    param.copy_(torch.randn(param.shape, generator=gen) * LORA_STD)
    unet_sd = convert_state_dict_to_diffusers(
        get_peft_model_state_dict(pipe.unet, adapter_name=adapter)
    )
    text_sd = convert_state_dict_to_diffusers(
        get_peft_model_state_dict(pipe.text_encoder, adapter_name=adapter)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(path.parent),
        unet_lora_layers={k: v.contiguous() for k, v in sorted(unet_sd.items())},
        text_encoder_lora_layers={k: v.contiguous() for k, v in sorted(text_sd.items())},
        weight_name=path.name,
        safe_serialization=True,
    )
    pipe.unet.delete_adapters(adapter)
    pipe.text_encoder.delete_adapter(adapter)
    return path


def make_tiny_loras(adapters_dir: str | Path, cache_dir: str | Path) -> list[Path]:
    """Write ``tiny-lora.safetensors`` (or the manifest's ``test_weights`` name) for every
    style under ``adapters_dir``."""
    import torch
    from diffusers import StableDiffusionPipeline

    from engine.styles import StyleRegistry

    registry = StyleRegistry.load(adapters_dir)
    pipe = StableDiffusionPipeline.from_pretrained(
        str(tiny_model_dir(cache_dir)), dtype=torch.float32, safety_checker=None,
        requires_safety_checker=False,
    )
    written = []
    for style in registry:
        path = style.test_weights or style.folder / TINY_LORA
        written.append(make_tiny_lora(pipe, style.name, path))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.tiny", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache-dir", default="var/models")
    parser.add_argument("--loras", action="store_true", help="regenerate the styles' tiny LoRAs")
    parser.add_argument("--adapters-dir", default="adapters")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = tiny_model_dir(args.cache_dir)
    clip = tiny_clip_dir(args.cache_dir)
    print(f"tiny model: {folder} ({folder_size(folder) / 1e6:.1f} MB)")
    print(f"tiny CLIP:  {clip} ({folder_size(clip) / 1e6:.1f} MB)")
    if args.loras:
        for path in make_tiny_loras(args.adapters_dir, args.cache_dir):
            print(f"LoRA: {path} ({path.stat().st_size / 1e3:.1f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
