"""What a training run is asked to do (filled from the command line by ``cli``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["lora", "dreambooth"]
Precision = Literal["no", "fp16", "bf16"]
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup")  # diffusers.optimization.get_scheduler names


@dataclass(slots=True)
class TrainOptions:
    kind: Kind
    name: str
    data: Path
    config: Path = Path("config.toml")
    adapters: Path | None = None  # default: [engine] adapters
    run_dir: Path | None = None  # default: runs/NAME-<timestamp>
    device: str | None = None  # default: [engine] device
    # the adapter
    rank: int = 16
    alpha: float | None = None  # default: = rank
    lora_dropout: float = 0.0
    # optimisation
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine_with_restarts"
    lr_warmup_steps: int = 0
    lr_cycles: int = 1  # restarts of cosine_with_restarts
    steps: int | None = None  # optimizer steps; default 1000 unless epochs is given
    epochs: float | None = None
    batch_size: int = 1
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    adam_weight_decay: float = 1e-2
    snr_gamma: float | None = 5.0  # None: plain MSE
    mixed_precision: Precision = "no"
    gradient_checkpointing: bool = False
    seed: int = 42
    # data
    resolution: int | None = None  # default: the base model's native size
    test_split: float = 0.2
    random_crop: bool = True
    crop_scale: float = 0.8
    flip: float = 0.5
    jitter: float = 0.05
    # logging, validation, checkpoints
    log_every: int = 1
    validation_prompts: list[str] = field(default_factory=list)
    validation_every: int = 0  # 0: at the end only
    validation_inference_steps: int = 25
    checkpoint_every: int = 0  # 0: no checkpoints
    resume: str | None = None  # a checkpoint folder or "latest"
    # the manifest of a new style
    template: str | None = None
    title: str | None = None
    description: str | None = None
    adapter_weight: float = 1.0
    # DreamBooth
    instance_prompt: str | None = None
    class_prompt: str | None = None
    num_class_images: int = 100
    prior_loss_weight: float = 1.0
    class_dir: Path | None = None  # default: [engine] cache/class-images/<key>
    class_inference_steps: int = 25
    l2: float = 0.0  # weight of Σ‖ΔW‖²

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
