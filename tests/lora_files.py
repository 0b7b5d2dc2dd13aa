"""Real LoRA files for the bad-style and reload tests: one made for another base (a tiny UNet
whose cross-attention is 768 wide, as SD 1.x's, trained-shape LoRA added with peft), a kohya
copy of a diffusers LoRA (keys renamed as kohya's sd-scripts names them), a corrupt file,
and style folders around them."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / "adapters"


def style_folder(root: Path, name: str, weights: Path | None = None, *, prompt: str = "{prompt}",
                 adapter_weight: float = 1.0, manifest: str | None = None) -> Path:
    """``root/name`` with a manifest (and ``weights`` copied in as its test LoRA), written
    in a temp folder and renamed into place, as a trainer does."""
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lines = [f'name = "{name}"', f'prompt = "{prompt}"', f"adapter_weight = {adapter_weight}"]
    if weights is not None:
        shutil.copyfile(weights, tmp / "lora.safetensors")
        lines.append('test_weights = "lora.safetensors"')
    lines += ["[id]", f'title = "{name} (id)"', 'description = "uji"',
              "[en]", f'title = "{name} (en)"', 'description = "test"']
    (tmp / "style.toml").write_text(manifest if manifest is not None else "\n".join(lines) + "\n")
    target = root / name
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def copy_shipped(root: Path) -> Path:
    """The repo's shipped styles (manifests and tiny LoRAs) in ``root``."""
    shutil.copytree(ADAPTERS, root, dirs_exist_ok=True)
    return root


def sd1_lora(path: Path, tiny_model: Path) -> Path:
    """A diffusers-format LoRA made on the tiny UNet rebuilt with cross-attention 768 (SD
    1.x's width; the tiny model's is 32): shaped for another base."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    config = json.loads((tiny_model / "unet" / "config.json").read_text())
    config["cross_attention_dim"] = 768
    torch.manual_seed(7)
    unet = UNet2DConditionModel.from_config(config)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v",
                                                                   "to_out.0"]), "sd1")
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if ".lora_" in name:
                param.normal_(0, 0.3)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet, adapter_name="sd1"))
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(path.parent), unet_lora_layers=layers, weight_name=path.name,
        safe_serialization=True)
    return path


def kohya_key(name: str) -> str:
    """A diffusers-format LoRA key → the name kohya's sd-scripts gives the same matrix."""
    roles = {".lora.down.weight": "lora_down", ".lora.up.weight": "lora_up",
             ".lora_linear_layer.down.weight": "lora_down",
             ".lora_linear_layer.up.weight": "lora_up"}
    role = next(r for r in roles if name.endswith(r))
    module, kohya_role = name[: -len(role)], roles[role]
    if module.startswith("unet."):
        prefix, module = "lora_unet_", module.removeprefix("unet.")
    else:
        prefix, module = "lora_te_", "text_model." + module.removeprefix("text_encoder.")
    return f"{prefix}{module.replace('.', '_')}.{kohya_role}.weight"


def kohya_copy(src: Path, dst: Path, alpha_shape: tuple[int, ...] = ()) -> Path:
    """``src`` (diffusers format) renamed to kohya keys, with an ``alpha`` per layer equal to
    the rank (so the scale stays 1). ``alpha_shape`` other than () makes a wrong file: kohya
    alphas are scalars."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = {}
    for name, value in load_file(str(src)).items():
        key = kohya_key(name)
        tensors[key] = value
        if key.endswith(".lora_down.weight"):
            rank = value.shape[0]
            tensors[key.replace(".lora_down.weight", ".alpha")] = torch.full(
                alpha_shape, float(rank))
    save_file(tensors, str(dst))
    return dst


def corrupt_file(path: Path) -> Path:
    """Bytes that claim a safetensors header longer than the file."""
    path.write_bytes(struct.pack("<Q", 10_000) + b'{"unet.x.lora.down.weight": {"dtype"')
    return path


class Chat:
    """``python -m bot chat`` driven line by line: say something, wait for the answer."""

    def __init__(self, config: Path, lang: str = "en"):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat", "--config", str(config)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.say(f"/lang {lang}")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.out += line

    def say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def until(self, done: Callable[[str], bool], timeout: float = 180,
              every: Callable[[], None] | None = None) -> str:
        """Wait until ``done(stdout so far)``; ``every``: called each half second."""
        deadline = time.monotonic() + timeout
        while not done(self.out):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise AssertionError(f"no such answer; the chat said:\n{self.out[-3000:]}")
            if every is not None:
                every()
            time.sleep(0.5)
        return self.out

    def close(self, timeout: float = 180) -> subprocess.CompletedProcess:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(10)
        err = self.proc.stderr.read()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, self.out, err)
