"""The LoRA on the UNet's attention projections, its L2 penalty, and saving it.

As diffusers' ``examples/text_to_image/train_text_to_image_lora.py``: a peft ``LoraConfig`` on
``to_k, to_q, to_v, to_out.0`` (Gaussian A, zero B, so training starts from the base model),
trainable parameters kept in float32 whatever the frozen weights' dtype, and the weights saved
with ``get_peft_model_state_dict`` → ``convert_state_dict_to_diffusers`` →
``StableDiffusionPipeline.save_lora_weights`` (what ``pipe.load_lora_weights`` reads).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.train.errors import InputError

TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
ADAPTER = "default"  # peft's name for the one adapter being trained


def add_lora(unet, rank: int, alpha: float, dropout: float = 0.0) -> list[torch.nn.Parameter]:
    """Freeze ``unet``, add the LoRA, and return its (float32) trainable parameters."""
    from peft import LoraConfig

    if rank < 1:
        raise InputError(f"--rank {rank} must be at least 1")
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                                init_lora_weights="gaussian", target_modules=TARGETS),
                     adapter_name=ADAPTER)
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()  # as diffusers' cast_training_params: fp32 master weights
    return params


def lora_layers(model) -> list:
    """The peft LoRA layers of ``model`` (one per adapted projection)."""
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer) and ADAPTER in m.lora_A]


def l2_penalty(model) -> torch.Tensor:
    """Σ ‖ΔW‖²_F over the LoRA layers, ΔW = scale · B · A, computed without forming ΔW:
    ‖BA‖²_F = tr(AᵀBᵀBA) = Σ (BᵀB) ⊙ (AAᵀ), two r×r matrices per layer."""
    total = None
    for layer in lora_layers(model):
        a = layer.lora_A[ADAPTER].weight.float()  # r × in
        b = layer.lora_B[ADAPTER].weight.float()  # out × r
        term = (layer.scaling[ADAPTER] ** 2) * ((b.T @ b) * (a @ a.T)).sum()
        total = term if total is None else total + term
    if total is None:
        raise RuntimeError("no LoRA layers found")
    return total


def trainable_state(unet) -> dict[str, torch.Tensor]:
    """The trainable tensors by parameter name (what a checkpoint saves and restores)."""
    return {n: p.detach().cpu().contiguous() for n, p in unet.named_parameters()
            if p.requires_grad}


def save_trainable(unet, path: Path) -> None:
    save_file(trainable_state(unet), str(path))


def load_trainable(unet, path: Path) -> None:
    """Put a checkpoint's LoRA tensors back; InputError when they do not fit this model (a
    checkpoint made for another base model, or another --rank)."""
    try:
        saved = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"{path}: not a readable checkpoint ({exc})") from None
    params = {n: p for n, p in unet.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(saved))
    extra = sorted(set(saved) - set(params))
    if missing or extra:
        example = (missing or extra)[0]
        raise InputError(f"{path}: the checkpoint does not fit this base model: layer "
                         f"{example} is {'missing' if missing else 'unknown'} here "
                         f"({len(missing)} missing, {len(extra)} unknown; made for another "
                         "base model?)")
    for name, param in params.items():
        if tuple(saved[name].shape) != tuple(param.shape):
            raise InputError(f"{path}: the checkpoint does not fit this base model: {name} is "
                             f"{tuple(saved[name].shape)} there and {tuple(param.shape)} here "
                             "(another base model or --rank?)")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name].to(param.device, param.dtype))


def diffusers_state_dict(unet) -> dict[str, torch.Tensor]:
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import get_peft_model_state_dict

    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name=ADAPTER))
    return {k: v.detach().float().cpu().contiguous() for k, v in sorted(state.items())}


def save_lora(unet, folder: Path, weight_name: str) -> Path:
    """``folder/weight_name`` in the diffusers LoRA format (``pipe.load_lora_weights``)."""
    from diffusers import StableDiffusionPipeline

    folder.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(folder), unet_lora_layers=diffusers_state_dict(unet),
        weight_name=weight_name, safe_serialization=True)
    return folder / weight_name
