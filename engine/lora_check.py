"""Whether a LoRA file fits the model, judged from its safetensors header alone.

Torch-free: the engine runs it before ``load_lora_weights`` (so a LoRA made for another base
is refused with a reason in words instead of 96 lines of size mismatches), and
``python -m bot doctor`` runs it against the model's ``config.json`` files without loading
anything. Formats: diffusers (``unet.….lora.down.weight``, ``….lora_linear_layer.…``), peft
(``….lora_A.weight``) and kohya (``lora_unet_…​.lora_down.weight``, ``lora_te_…``).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAX_HEADER = 100 * 2**20  # a LoRA header is a few hundred kB; more means it isn't one

# the cross-attention width (= text encoder width) of the families people train LoRAs for
BASES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL", 4096: "a T5-conditioned model"}

KOHYA_PREFIXES = {"lora_unet_": "unet", "lora_te_": "text_encoder", "lora_te1_": "text_encoder",
                  "lora_te2_": "text_encoder_2"}
_DIFFUSERS = re.compile(
    r"^(?P<module>.+?)\.(?:lora\.(?P<a>down|up)|lora_linear_layer\.(?P<b>down|up)"
    r"|(?P<c>lora_A|lora_B)(?:\.[\w-]+)?)\.weight$")
_KOHYA = re.compile(r"^(?P<module>lora_(?:unet|te|te1|te2)_[\w]+)\.(?P<role>lora_down|lora_up)"
                    r"\.weight$")
_EXTRA = re.compile(r"\.(alpha|dora_scale|lora_magnitude_vector(?:\.[\w-]+)?)$")
_LYCORIS = ("hada_w1", "lokr_w1", "lokr_w2", "oft_blocks", ".ia3")
_ATTN_PROC = re.compile(r"\.processor\.(to_[qkv]|to_out)_lora$")  # the old attn-procs format


class LoraMisfit(ValueError):
    """A LoRA that cannot be loaded into the model; the message is the reason in words."""


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What a LoRA must fit: the UNet's cross-attention width, the text encoder's width and
    the (in, out) sizes of the layers by module path (``unet.…``, ``text_encoder.…``, without
    transformers' ``text_model.``). ``complete``: every layer is listed (taken from the loaded
    modules), so a LoRA none of whose layers is listed is made for another architecture."""

    cross_attention_dim: int
    text_hidden: int | None
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)
    complete: bool = False

    @classmethod
    def from_modules(cls, unet, text_encoder=None) -> ModelShape:
        """From loaded torch modules (duck-typed: Linear and Conv2d attributes)."""
        layers: dict[str, tuple[int, int]] = {}
        for prefix, model in (("unet", unet), ("text_encoder", text_encoder)):
            if model is None:
                continue
            for name, module in model.named_modules():
                size = _module_size(module) if name else None
                if size is not None:
                    layers[_normal(f"{prefix}.{name}")] = size
        text = getattr(getattr(text_encoder, "config", None), "hidden_size", None)
        return cls(int(unet.config.cross_attention_dim), text, layers, complete=True)

    @classmethod
    def from_configs(cls, unet: dict, text: dict | None = None) -> ModelShape:
        """From the UNet's and the text encoder's ``config.json``: the transformer layers
        LoRAs target (attention, feed-forward, projections), computed as diffusers builds
        them. Other layers are not listed (``complete`` False)."""
        cross = unet.get("cross_attention_dim", 1280)
        cross = int(cross[0] if isinstance(cross, list) else cross)
        channels = list(unet.get("block_out_channels", (320, 640, 1280, 1280)))
        per_block = unet.get("layers_per_block", 2)
        depth = unet.get("transformer_layers_per_block", 1)
        layers: dict[str, tuple[int, int]] = {}

        def transformer(path: str, width: int, blocks: int) -> None:
            layers[f"{path}.proj_in"] = (width, width)
            layers[f"{path}.proj_out"] = (width, width)
            for k in range(blocks):
                block = f"{path}.transformer_blocks.{k}"
                for attn, kv_in in (("attn1", width), ("attn2", cross)):
                    layers[f"{block}.{attn}.to_q"] = (width, width)
                    layers[f"{block}.{attn}.to_k"] = (kv_in, width)
                    layers[f"{block}.{attn}.to_v"] = (kv_in, width)
                    layers[f"{block}.{attn}.to_out.0"] = (width, width)
                layers[f"{block}.ff.net.0.proj"] = (width, 8 * width)  # GEGLU: 2 × 4 × width
                layers[f"{block}.ff.net.2"] = (4 * width, width)

        def at(value, i: int) -> int:
            return int(value[i] if isinstance(value, list | tuple) else value)

        for i, kind in enumerate(unet.get("down_block_types", ())):
            if "CrossAttn" in kind:
                for j in range(at(per_block, i)):
                    transformer(f"unet.down_blocks.{i}.attentions.{j}", channels[i],
                                at(depth, i))
        if "CrossAttn" in str(unet.get("mid_block_type") or "UNetMidBlock2DCrossAttn"):
            transformer("unet.mid_block.attentions.0", channels[-1], at(depth, -1))
        up_channels = channels[::-1]
        for i, kind in enumerate(unet.get("up_block_types", ())):
            if "CrossAttn" in kind:
                for j in range(at(per_block, len(channels) - 1 - i) + 1):
                    transformer(f"unet.up_blocks.{i}.attentions.{j}", up_channels[i],
                                at(depth, len(channels) - 1 - i))
        hidden = None
        if text:
            hidden = int(text["hidden_size"])
            inner = int(text.get("intermediate_size", 4 * hidden))
            for n in range(int(text.get("num_hidden_layers", 12))):
                layer = f"text_encoder.encoder.layers.{n}"
                for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                    layers[f"{layer}.self_attn.{proj}"] = (hidden, hidden)
                layers[f"{layer}.mlp.fc1"] = (hidden, inner)
                layers[f"{layer}.mlp.fc2"] = (inner, hidden)
        return cls(cross, hidden, layers, complete=False)

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelShape:
        """From a diffusers model folder (``unet/config.json``, ``text_encoder/config.json``);
        OSError or ValueError when they are missing or unreadable."""
        folder = Path(folder)
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        text_path = folder / "text_encoder" / "config.json"
        text = json.loads(text_path.read_text(encoding="utf-8")) if text_path.is_file() else None
        return cls.from_configs(unet, text)


@dataclass(frozen=True, slots=True)
class LoraFit:
    """A LoRA that fits: its format and how many layers it changes."""

    format: str  # "diffusers" | "kohya"
    layers: int
    unmatched: int = 0  # layers the model's list doesn't have (diffusers decides on those)


def read_header(path: str | Path) -> dict[str, list[int]]:
    """Tensor name → shape, from the file's safetensors header (nothing else is read)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
            size = path.stat().st_size
            if len(head) < 8:
                raise LoraMisfit("not a safetensors file: it is empty or truncated")
            if head[:2] == b"PK" or head[:1] == b"\x80":
                raise LoraMisfit("a pickled PyTorch file (.ckpt/.pt), not safetensors: "
                                 "convert it to .safetensors")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER or n + 8 > size:
                raise LoraMisfit("not a safetensors file (corrupt or another format)")
            raw = f.read(n)
    except OSError as exc:
        raise LoraMisfit(f"cannot read it: {exc.strerror or exc}") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LoraMisfit("not a safetensors file (its header is not JSON: corrupt)") from None
    if not isinstance(header, dict):
        raise LoraMisfit("not a safetensors file (corrupt header)")
    shapes = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
            raise LoraMisfit(f"not a safetensors file (corrupt entry {name!r})")
        if offsets[1] > size - 8 - n:
            raise LoraMisfit("truncated: the file is shorter than its header says")
        shapes[name] = shape
    return shapes


def check_lora(path: str | Path, model: ModelShape) -> LoraFit:
    """The LoRA's format and size if it fits ``model``; LoraMisfit with the reason if not."""
    shapes = read_header(path)
    if not shapes:
        raise LoraMisfit("holds no tensors")
    fmt, pairs = _pairs(shapes)
    _check_width(pairs, model)
    matched = unmatched = 0
    for module, (down, up) in sorted(pairs.items()):
        if down is None or up is None:
            raise LoraMisfit(f"incomplete: layer {module} has only one of its two matrices")
        rank_down, rank_up = down[0], up[1] if len(up) > 1 else None
        if rank_down != rank_up:
            raise LoraMisfit(f"layer {module}: its matrices disagree on the rank "
                             f"({rank_down} vs {rank_up})")
        size = model.layers.get(module)
        if size is None:
            unmatched += 1
            continue
        matched += 1
        if (down[1], up[0]) != size:
            raise LoraMisfit(f"layer {module}: the LoRA is {down[1]}→{up[0]}, the model's "
                             f"layer is {size[0]}→{size[1]}")
    if matched == 0 and (model.complete or model.layers):
        raise LoraMisfit(f"none of its {len(pairs)} layers exists in the model "
                         f"(made for another architecture; e.g. {min(pairs)})")
    return LoraFit(fmt, len(pairs), unmatched)


def describe_base(width: int) -> str:
    return BASES.get(width, f"a model with cross-attention {width}")


# ------------------------------------------------------------------------ reading keys

Pairs = dict[str, list[list[int] | None]]  # module path → [down shape, up shape]


def _pairs(shapes: dict[str, list[int]]) -> tuple[str, Pairs]:
    """The format and each layer's (down, up) shapes, by normalised module path."""
    names = list(shapes)
    if any(tag in name for name in names for tag in _LYCORIS):
        raise LoraMisfit("a LyCORIS file (LoHa/LoKr/OFT/IA3), not a LoRA: not supported")
    kohya = all(name.startswith(tuple(KOHYA_PREFIXES)) for name in names)
    pairs: Pairs = {}
    for name, shape in shapes.items():
        if _EXTRA.search(name):
            continue
        if kohya:
            m = _KOHYA.match(name)
            if m is None:
                raise LoraMisfit(f"an unknown kohya key {name!r}")
            module = _from_kohya(m["module"])
            role = 0 if m["role"] == "lora_down" else 1
        else:
            m = _DIFFUSERS.match(name)
            if m is None:
                raise LoraMisfit(f"keys in neither diffusers/peft nor kohya format "
                                 f"(e.g. {name!r})")
            module = _from_diffusers(m["module"])
            role = 0 if (m["a"] or m["b"]) == "down" or m["c"] == "lora_A" else 1
        pairs.setdefault(module, [None, None])[role] = shape
    if not pairs:
        raise LoraMisfit("holds no LoRA matrices")
    return ("kohya" if kohya else "diffusers"), pairs


def _from_kohya(name: str) -> str:
    """``lora_unet_down_blocks_0_…_attn2_to_k`` → ``unet.down_blocks.0.….attn2.to_k``."""
    prefix = next(p for p in KOHYA_PREFIXES if name.startswith(p))
    component, rest = KOHYA_PREFIXES[prefix], name[len(prefix):]
    # underscores inside diffusers' own names survive; every other one was a dot
    path = rest.replace("_", ".")
    for word in ("down.blocks", "up.blocks", "mid.block", "transformer.blocks", "to.q", "to.k",
                 "to.v", "to.out", "proj.in", "proj.out", "text.model", "self.attn", "q.proj",
                 "k.proj", "v.proj", "out.proj", "time.emb.proj", "conv.shortcut", "conv.in",
                 "conv.out", "time.embedding", "linear.1", "linear.2", "text.projection"):
        path = path.replace(word, word.replace(".", "_"))
    return _normal(f"{component}.{path}")


def _from_diffusers(module: str) -> str:
    module = _ATTN_PROC.sub(lambda m: "." + m[1] + (".0" if m[1] == "to_out" else ""), module)
    module = module.removeprefix("base_model.model.")
    if not module.startswith(("unet.", "text_encoder.", "text_encoder_2.")):
        module = f"unet.{module}"  # a UNet-only peft file saves bare module names
    return _normal(module)


def _normal(path: str) -> str:
    return path.replace(".text_model.", ".")


def _module_size(module) -> tuple[int, int] | None:
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return int(module.in_features), int(module.out_features)
    if hasattr(module, "kernel_size") and hasattr(module, "in_channels"):  # Conv2d (LoCon)
        return int(module.in_channels), int(module.out_channels)
    return None


def _check_width(pairs: Pairs, model: ModelShape) -> None:
    """The cross-attention width (attn2's to_k/to_v input) and the text encoder's width
    name the base a LoRA was made for."""
    if any(module.startswith("text_encoder_2.") for module in pairs):
        if model.cross_attention_dim != 2048:
            raise LoraMisfit(f"made for SDXL (it has a second text encoder): the model has "
                             f"cross-attention {model.cross_attention_dim}")
    widths = {down[1] for module, (down, _) in pairs.items()
              if down is not None and len(down) > 1 and ".attn2.to_" in module
              and module.endswith((".to_k", ".to_v"))}
    for width in sorted(widths):
        if width != model.cross_attention_dim:
            raise LoraMisfit(f"made for {describe_base(width)}: cross-attention {width}, "
                             f"the model has {model.cross_attention_dim}")
    if model.text_hidden:
        texts = {down[1] for module, (down, _) in pairs.items()
                 if down is not None and len(down) > 1 and module.startswith("text_encoder.")
                 and ".self_attn." in module}
        for width in sorted(texts):
            if width != model.text_hidden:
                raise LoraMisfit(f"made for {describe_base(width)}: text encoder width "
                                 f"{width}, the model's is {model.text_hidden}")


__all__ = ["BASES", "LoraFit", "LoraMisfit", "ModelShape", "check_lora", "describe_base",
           "read_header"]
