"""Training a style: ``python -m engine.train lora|dreambooth ...`` (docs/training.md).

Runs beside the engine, never inside the bot: it imports torch/diffusers. Modules: ``config``
(the base model from config.toml), ``data`` and ``augment`` (images + captions → tensors),
``lora`` (the adapter on the UNet, its L2 penalty, saving it), ``loss`` (min-SNR weighting),
``loop`` (steps, checkpoints, resume), ``rundir`` (metrics.jsonl, loss.png, validation
images), ``dreambooth`` (class images for prior preservation), ``manifest`` (style.toml and
the LoRA written atomically into the adapters folder), ``cli``.
"""
