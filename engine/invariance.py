"""CPU batch invariance: a job gives the same bytes alone or in a batch (docs/engine.md).

Per-job generators make the starting noise batch-independent; on CPU three kernels were not:
oneDNN convolutions (off while the engine runs: ``batch_invariant_kernels``), MKL's small-M
GEMM in 2-D ``Linear`` layers and the layout of attention outputs (both patched per module
by ``make_batch_invariant``). On CUDA nothing here is applied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial

import torch


@contextlib.contextmanager
def batch_invariant_kernels(device: torch.device) -> Iterator[None]:
    """On CPU, oneDNN (mkldnn) off for the duration: its convolutions pick an algorithm by
    batch size; PyTorch's native convolution runs one GEMM per sample. Elsewhere a no-op."""
    if device.type != "cpu":
        yield
        return
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def make_batch_invariant(*models: torch.nn.Module) -> None:
    """Patch the layers whose CPU results depend on the batch size: 2-D ``Linear`` one row at
    a time, ``GroupNorm`` on contiguous input, attention outputs made contiguous."""
    from diffusers.models.attention_processor import Attention

    for model in models:
        for module in model.modules():
            if type(module) is torch.nn.Linear:
                module.forward = partial(_rowwise_linear, module)
            elif type(module) is torch.nn.GroupNorm:
                module.forward = partial(_contiguous_group_norm, module)
            elif type(module).__name__ == "TextTimeEmbedding":
                # a UNet with a text-time embedding (addition_embed_type "text") pools the
                # prompt with batched einsums
                module.forward = partial(_per_sample, module.forward)
            elif isinstance(module, Attention):
                # The VAE's spatial attention returns a channels-last view for N > 1 and a
                # contiguous one for N = 1; later convs and norms then take other kernels.
                module.register_forward_hook(_contiguous_output)


def _rowwise_linear(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``, but a 2-D input is computed one row at a time, so a row's result does
    not depend on how many rows came with it (MKL takes another path for small M)."""
    if x.dim() != 2 or x.shape[0] < 2:
        return torch.nn.functional.linear(x, module.weight, module.bias)
    return torch.cat(
        [torch.nn.functional.linear(row, module.weight, module.bias) for row in x.split(1)]
    )


def _per_sample(forward, x: torch.Tensor) -> torch.Tensor:
    """``forward(x)`` one sample at a time, so a sample's result is its own."""
    return torch.cat([forward(sample) for sample in x.split(1)])


def _contiguous_group_norm(module: torch.nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` on a contiguous copy of ``x``: the CPU kernel for channels-last input
    sums in another order, and whether a reshaped tensor comes out channels-last depends on
    its batch size (N=1 counts as both layouts)."""
    return torch.nn.functional.group_norm(
        x.contiguous(), module.num_groups, module.weight, module.bias, module.eps
    )


def _contiguous_output(module: torch.nn.Module, args, output):
    return output.contiguous() if isinstance(output, torch.Tensor) else output


__all__ = ["batch_invariant_kernels", "make_batch_invariant"]
