"""Helpers of the GPU path: device and dtype, "auto" options, SDPA, VAE slicing/tiling,
torch.compile, and the batch cap from free accelerator memory (docs/engine.md)."""

from __future__ import annotations

import logging

import torch

from engine.settings import DTYPES, EngineSettings, check_choice

log = logging.getLogger("pelukis.engine")

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
assert set(TORCH_DTYPES) == set(DTYPES) - {"auto"}

# GPU memory one image needs while it is painted, per megapixel at 2 bytes per value (UNet
# activations for both CFG halves with SDPA, the VAE decode, the CLIP input): a conservative
# estimate used when it was not measured; SD 2.1 at 768² in fp16 is ~0.9 GB by it.
MB_PER_MEGAPIXEL_FP16 = 1536.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    check_choice("dtype", name, DTYPES)
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return TORCH_DTYPES[name]


def resolve_auto(value: bool | str, auto: bool) -> bool:
    """An option that is True/False or "auto" (→ ``auto``); "on"/"off" are accepted too."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return auto
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{value!r} is not one of true, false, auto")


def enable_tf32() -> None:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def use_sdpa(*models: torch.nn.Module) -> None:
    """Every attention layer through ``F.scaled_dot_product_attention`` (AttnProcessor2_0).
    diffusers picks it by default; this makes sure of it (a config or an older load path can
    leave the classic processor, which materialises the attention matrix)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in models:
        kinds = {type(p).__name__ for p in model.attn_processors.values()}
        if kinds and kinds != {"AttnProcessor2_0"}:
            model.set_attn_processor(AttnProcessor2_0())


def attention_kind(model: torch.nn.Module) -> str:
    """The attention processors a model uses, e.g. "AttnProcessor2_0"."""
    kinds = sorted({type(p).__name__ for p in model.attn_processors.values()})
    return ",".join(kinds)


def compile_unet(unet: torch.nn.Module, mode: str, n_lora_styles: int) -> None:
    """``torch.compile`` of the UNet (lazy: it compiles on its first call, the warm-up)."""
    if n_lora_styles > 3:
        # each adapter state is its own graph: keep them all cached
        import torch._dynamo as dynamo

        limit = dynamo.config.cache_size_limit
        dynamo.config.cache_size_limit = max(limit, 2 * n_lora_styles + 4)
    unet.compile(mode=mode, fullgraph=False)


def set_vae_slicing_tiling(vae, settings: EngineSettings, width: int, height: int) -> None:
    """VAE slicing/tiling for a batch of this size (auto: sides above the thresholds)."""
    if vae is None:
        return
    side = max(width, height)
    if resolve_auto(settings.vae_slicing, side > settings.vae_slicing_above) != bool(
        vae.use_slicing
    ):
        (vae.disable_slicing if vae.use_slicing else vae.enable_slicing)()
    if resolve_auto(settings.vae_tiling, side > settings.vae_tiling_above) != bool(
        vae.use_tiling
    ):
        (vae.disable_tiling if vae.use_tiling else vae.enable_tiling)()


def estimate_image_bytes(width: int, height: int, dtype: torch.dtype) -> int:
    """The estimated GPU memory one image of a batch takes (see MB_PER_MEGAPIXEL_FP16)."""
    element = torch.tensor([], dtype=dtype).element_size()
    megapixels = width * height / 1e6
    return int(MB_PER_MEGAPIXEL_FP16 * megapixels * element / 2 * 2**20)


def batch_cap(max_batch: int, free_bytes: int | None, per_image_bytes: int,
              reserve_bytes: int = 0) -> int:
    """Images per batch that fit: ``(free − reserve) // per_image``, within [1, max_batch].

    ``free_bytes`` None (no accelerator to ask) or a non-positive estimate → ``max_batch``."""
    if free_bytes is None or per_image_bytes <= 0:
        return max_batch
    fits = (free_bytes - reserve_bytes) // per_image_bytes
    return int(max(1, min(max_batch, fits)))


def total_gb(device: torch.device) -> float:
    """The accelerator's memory; infinite where there is none to ask (CPU)."""
    if device.type != "cuda":
        return float("inf")
    return torch.cuda.get_device_properties(device).total_memory / 2**30


def free_bytes(device: torch.device) -> int | None:
    """Free accelerator memory now; None where there is nothing to ask (CPU)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    # what PyTorch's allocator holds but does not use is free for the next batch as well
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(free + max(cached, 0))


def free_memory(device: torch.device) -> None:
    """After an out-of-memory: hand the allocator's cache back."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


__all__ = [
    "MB_PER_MEGAPIXEL_FP16", "TORCH_DTYPES", "attention_kind", "batch_cap", "compile_unet",
    "enable_tf32", "estimate_image_bytes", "free_bytes", "free_memory", "resolve_auto",
    "resolve_device", "resolve_dtype", "set_vae_slicing_tiling", "total_gb", "use_sdpa",
]
