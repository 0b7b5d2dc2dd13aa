"""The `tiny` model: an SD-2.1-shaped pipeline and a CLIP, small enough for a CPU, trained on
the tiny world (``engine/world``: one shape of a colour at a place on a background, 64×64).

`tiny` exists so the whole engine (pipeline, LoRA switching, batching, CLIP score, image check,
process loop) runs offline on a CPU with exactly the code path of a real model, and paints what
the prompt says, so tests can tell a dropped prompt or an ignored style. Its weights ship in
``engine/assets/tiny`` and ``engine/assets/tiny-clip`` (float16, made by ``python -m
engine.world.train`` from a seed); the model folders are assembled from them in the cache on
first use with ``save_pretrained``'s layout, loaded back with the same ``from_pretrained``.

Shape, as SD 2.1 (768-v): UNet with linear-projection transformers and per-block head counts,
AutoencoderKL, CLIPTextModel with SD 2's tokenizer settings (pad "!"), DDIM scheduler config
with ``prediction_type="v_prediction"``. The tokenizer is the real CLIP BPE tokenizer, built
from ``engine/assets/bpe_simple_vocab_16e6.txt.gz`` (MIT, from open_clip).

Commands::

    python -m engine.tiny [--cache-dir var/models]   # assemble the tiny model folders
    python -m engine.world.train                     # retrain the weights (about an hour)
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
TINY_LORA = "tiny-lora.safetensors"
# The trained weights; PELUKIS_TINY_WEIGHTS names another folder holding tiny/ and tiny-clip/
# (the trainer's smoke test writes there instead of over the shipped ones).
WEIGHTS_ENV = "PELUKIS_TINY_WEIGHTS"

SEED = 20240521
VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
BOS_ID, EOS_ID = 49406, 49407
MAX_LENGTH = 77
HIDDEN = 32  # text hidden size = UNet cross-attention dim = CLIP projection dim



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
    # Latents are 16×16×4 (the VAE reduces 4×): attention at 8×8, 4×4 and 2×2. A UNet knows
    # where it is only from its convolutions' zero padding; down at 2×2 every cell is a
    # corner, so "left" and "top" can be placed. Trainable on a 2-core CPU in minutes.
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 96, 96),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
        cross_attention_dim=HIDDEN,
        attention_head_dim=(2, 4, 4, 4),  # SD 2's per-block head counts
        use_linear_projection=True,
        norm_num_groups=32,
    )
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32, 64),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=16,
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
        # Zero terminal SNR (Lin et al. 2024): with SD's schedule the noisiest training step
        # keeps 7 % of the picture, the model learns to read the shape's place from that
        # residue, and at sampling the seed's noise decides it; here the last step is pure
        # noise, so the place comes from the words. Needs v-prediction and "trailing".
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
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


def clip_components():
    """A fresh tiny CLIP (text and vision towers, random weights) and its image processor:
    what ``engine.world.train`` trains."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vision = CLIPVisionConfig(
        hidden_size=HIDDEN * 2,
        intermediate_size=HIDDEN * 4,
        num_hidden_layers=3,
        num_attention_heads=4,
        image_size=64,
        patch_size=8,
        projection_dim=HIDDEN,
    )
    text = _text_config()
    text.num_hidden_layers = 2
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=HIDDEN
    )
    torch.manual_seed(SEED + 3)
    model = CLIPModel(config)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    return model, processor


def weights_root() -> Path:
    return Path(os.environ.get(WEIGHTS_ENV) or ASSETS)


def _digest(folder: Path) -> str:
    """A short hash of a weights folder: a retrained model gets a new cache folder."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "recipe.json":  # the training record, not the model
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:10]


def _weights(name: str) -> Path:
    folder = weights_root() / name
    if not (folder / ("model_index.json" if name == "tiny" else "config.json")).is_file():
        raise FileNotFoundError(
            f"the tiny model's weights are missing from {folder}: run "
            "`python -m engine.world.train` (about an hour on a CPU)")
    return folder


def _assemble(weights: Path):
    """Copy the shipped weights into a model folder and add the tokenizer beside them."""
    def build(folder: Path) -> None:
        shutil.copytree(weights, folder, dirs_exist_ok=True)
        (folder / "recipe.json").unlink(missing_ok=True)
        write_tokenizer(folder / "tokenizer" if (weights / "model_index.json").is_file()
                        else folder)
    return build


def tiny_folder_name() -> str:
    """The tiny pipeline's folder name in the cache (no torch: the doctor asks it)."""
    return f"tiny-{_digest(_weights('tiny'))}"


def tiny_model_dir(cache_dir: str | Path) -> Path:
    """The tiny pipeline folder, assembled from the shipped weights on first use."""
    weights = _weights("tiny")
    target = Path(cache_dir) / f"tiny-{_digest(weights)}"
    if not target.is_dir():
        log.info("assembling the tiny model in %s", target)
    return _atomic_build(target, _assemble(weights))


def tiny_clip_dir(cache_dir: str | Path) -> Path:
    """The tiny CLIP (text + vision) folder, assembled on first use."""
    weights = _weights("tiny-clip")
    return _atomic_build(Path(cache_dir) / f"tiny-clip-{_digest(weights)}", _assemble(weights))


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.tiny", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache-dir", default="var/models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = tiny_model_dir(args.cache_dir)
    clip = tiny_clip_dir(args.cache_dir)
    print(f"tiny model: {folder} ({folder_size(folder) / 1e6:.1f} MB)")
    print(f"tiny CLIP:  {clip} ({folder_size(clip) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
