"""The diffusion loss: the target the model predicts, and min-SNR-γ weighting that knows
v-prediction (Hang et al. 2023, as diffusers' training examples compute it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.train.errors import InputError


def prediction_target(scheduler, latents: torch.Tensor, noise: torch.Tensor,
                      timesteps: torch.Tensor) -> torch.Tensor:
    """ε for an epsilon model, v = α·ε − σ·x₀ for a v-prediction model (SD 2.1 768)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise InputError(f"the base model's prediction_type {kind!r} is not supported "
                     "(epsilon or v_prediction)")


def snr_weights(scheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample weight min(SNR, γ)/SNR for epsilon, min(SNR, γ)/(SNR + 1) for v."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(scheduler, timesteps).float()
    clipped = torch.clamp(snr, max=gamma)
    if scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    # a zero-terminal-SNR schedule's last step has SNR 0, where min(SNR, γ)/SNR tends to 1
    return torch.where(snr > 0, clipped / snr.clamp(min=1e-12), torch.ones_like(snr))


def per_sample_loss(pred: torch.Tensor, target: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per sample (float32), times its weight when given."""
    loss = F.mse_loss(pred.float(), target.float(), reduction="none")
    loss = loss.mean(dim=list(range(1, loss.ndim)))
    return loss if weights is None else loss * weights.to(loss.device)
