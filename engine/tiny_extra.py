"""Tiny offline versions of the optional extra pipelines, for tests: ``[engine]
upscale_model = "tiny"`` (an SD x4 upscaler, ``StableDiffusionUpscalePipeline``) and
``variations_model = "tiny"`` (Stable unCLIP, ``StableUnCLIPImg2ImgPipeline``).

Random weights, a few MB each, built on first use into the cache like engine/tiny.py's model
(deterministic: fixed seeds), saved with ``save_pretrained`` and loaded back by the engine
with the same ``from_pretrained(folder)`` call as a real model: the same code path. They
reuse the tiny model's tokenizer and text encoder, so the text side has the tiny model's
shape whatever it is. Their pictures mean nothing.

    python -m engine.tiny_extra [--cache-dir var/models]
"""

from __future__ import annotations

import argparse
from pathlib import Path

TINY_UPSCALER_DIR = "tiny-x4-upscaler-v1"  # bump the suffix when the recipe changes
TINY_UNCLIP_DIR = "tiny-unclip-v1"
SEED = 20261202
IMAGE_EMBED = 32  # the tiny unCLIP's CLIP image embedding width


def tiny_upscaler_dir(cache_dir: str | Path) -> Path:
    """The tiny x4 upscaler folder, built on first use."""
    return _build_once(_folder(cache_dir, TINY_UPSCALER_DIR), _build_upscaler, cache_dir)


def tiny_unclip_dir(cache_dir: str | Path) -> Path:
    """The tiny Stable unCLIP (image variations) folder, built on first use."""
    return _build_once(_folder(cache_dir, TINY_UNCLIP_DIR), _build_unclip, cache_dir)


def _folder(cache_dir: str | Path, name: str) -> Path:
    """Named after the tiny model it takes its text side from, so that a new tiny model
    (engine/tiny.py bumps its folder's name) gets new extras, which its LoRAs fit."""
    from engine.tiny import tiny_model_dir

    return Path(cache_dir) / f"{name}-{tiny_model_dir(cache_dir).name}"


def _build_once(target: Path, build, cache_dir) -> Path:
    """``build(tmp, cache_dir)`` through engine.tiny's atomic build (temp folder, rename)."""
    from engine.tiny import _atomic_build

    return _atomic_build(target, lambda tmp: build(tmp, cache_dir))


def _text_side(cache_dir):
    """The tiny model's tokenizer and text encoder (built first if need be)."""
    from transformers import CLIPTextModel, CLIPTokenizer

    from engine.tiny import tiny_model_dir

    base = tiny_model_dir(cache_dir)
    return (CLIPTokenizer.from_pretrained(base / "tokenizer"),
            CLIPTextModel.from_pretrained(base / "text_encoder"))


def _build_upscaler(folder: Path, cache_dir) -> None:
    """The SD x4 upscaler's shape, small: its own VAE (×4, three blocks) and a 7-channel
    UNet (4 latent + 3 low-res image channels) with the noise level as a class embedding."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    tokenizer, text_encoder = _text_side(cache_dir)
    hidden = text_encoder.config.hidden_size
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=7, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=hidden,
        attention_head_dim=8, use_linear_projection=True, num_class_embeds=1000,
        norm_num_groups=32)
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        block_out_channels=(32, 32, 64), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=32, scaling_factor=0.08333)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        low_res_scheduler=DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                                        beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                                beta_start=0.0001, beta_end=0.02, prediction_type="v_prediction",
                                set_alpha_to_one=False, steps_offset=1),
        max_noise_level=350)
    pipe.save_pretrained(folder, safe_serialization=True)


def _build_unclip(folder: Path, cache_dir) -> None:
    """Stable unCLIP 2.1's shape, small: the tiny model's text side, a CLIP vision encoder
    with projection, the image normalizer and noising scheduler, and a UNet that takes the
    (noised) image embedding and its noise level as a class embedding."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    tokenizer, text_encoder = _text_side(cache_dir)
    hidden = text_encoder.config.hidden_size
    torch.manual_seed(SEED + 2)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=IMAGE_EMBED, projection_dim=IMAGE_EMBED, num_hidden_layers=2,
        num_attention_heads=4, image_size=32, intermediate_size=37, patch_size=4))
    torch.manual_seed(SEED + 3)
    # the tiny model's UNet shape (engine/tiny.py), so the styles' tiny LoRAs fit it
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64, 96, 96),
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
        attention_head_dim=(2, 4, 4, 4),
        class_embed_type="projection", projection_class_embeddings_input_dim=IMAGE_EMBED * 2,
        cross_attention_dim=hidden, upcast_attention=True, use_linear_projection=True,
        norm_num_groups=32)
    torch.manual_seed(SEED + 4)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        block_out_channels=(16, 32, 64), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=16)
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=IMAGE_EMBED),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=tokenizer, text_encoder=text_encoder, unet=unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                beta_end=0.012, prediction_type="v_prediction",
                                set_alpha_to_one=False, steps_offset=1),
        vae=vae)
    pipe.save_pretrained(folder, safe_serialization=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.tiny_extra",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", default="var/models")
    args = parser.parse_args(argv)
    print(f"tiny x4 upscaler: {tiny_upscaler_dir(args.cache_dir)}")
    print(f"tiny unCLIP:      {tiny_unclip_dir(args.cache_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
