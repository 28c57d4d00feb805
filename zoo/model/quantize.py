"""Weights packed for CPU inference: bf16, int8 per output channel, int4 per group of 32.

Decoding one token reads every weight once, so on a CPU its speed is the speed at which the
matrix-vector kernels stream weights. PyTorch ships three that stream fewer or better-laid-out
bytes than fp32 `F.linear`, measured on this project's CPU (tools/bench_decode.py): oneDNN's
bf16 kernel on weights reordered once into its blocked layout, `_weight_int8pack_mm` (int8
weights, a bf16 scale per output channel) and `_weight_int4pack_mm_for_cpu` (4-bit weights
with a bf16 scale and zero per group of 32 inputs). All three take bf16 activations; a
`PackedLinear` converts its input and returns the model's dtype, so norms, rotary, attention
and the KV cache keep the model's precision (fp32 attention is also several times faster than
bf16 attention on this CPU for one query).

`quantize(model, mode)` swaps every linear layer of the language model for its packed form,
in place; the embedding, the norms, the MoE routers and stacked experts stay as they are. The
head is packed in `MODES[mode].head` (int8 under int4: 4-bit logits change the argmax, which is
why llama.cpp's 4-bit files keep their output matrix at 6 or 8 bits). A layer a kernel cannot
take (int4 needs 16 | out and 32 | in, int8 needs 16 | in) falls back along `FALLBACK`.
A packed model is for inference: it has no gradients and cannot be saved (save before).

The quantizers, one per mode: int8 is symmetric per output channel (scale = max |w| / 127),
its codes stored as two 4-bit planes for the int4 kernel where it takes the shape: from memory
that kernel streams 1.6x faster than the int8 one on this CPU (20 against 12 GB/s on Gemma 3's
262k-row head), which pays for the planes' 1.25 bytes per weight (Gemma 3 int8 decode +10%);
int4 is asymmetric per group of 32 (min and max of the group on the 16 levels, as llama.cpp's
Q4_1), unless `grids` gives a tensor's own grid: a GGUF file's 4-bit blocks (Q4_0, Q4_1, Q4_K)
are then kept as stored, the same 4-bit codes with the file's scale and offset per group; its
tensors stored with more bits get int8 through `modes`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zoo.model.decoder import Model
from zoo.model.layers import Linear
from zoo.units import check_quantization

GROUP = 32  # inputs per int4 group: llama.cpp's block, and the only size that fits d_model 576


@dataclass(frozen=True)
class Mode:
    """One packing: what a weight becomes, and the kernel that multiplies by it."""

    description: str
    fits: Callable[[int, int], bool]  # (out_features, in_features) -> can the kernel take it
    head: str  # the mode of the output head


MODES: dict[str, Mode] = {
    "bf16": Mode("bf16 weights in oneDNN's blocked layout (plain bf16 on a CPU without "
                 "AVX-512)", lambda n, k: True, "bf16"),
    "int8": Mode("int8 weights, a bf16 scale per output channel (as two 4-bit planes where "
                 "the int4 kernel takes the shape)", lambda n, k: k % 16 == 0, "int8"),
    "int4": Mode(f"4-bit weights, a bf16 scale and zero per group of {GROUP} inputs",
                 lambda n, k: n % 16 == 0 and k % GROUP == 0, "int8"),
}
FALLBACK: dict[str, str] = {"int4": "int8", "int8": "bf16"}


def _onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                            "_reorder_linear_weight")


class PackedLinear(nn.Module):
    """A linear layer whose weight is packed for one of torch's CPU kernels (see `MODES`).

    Buffers: `weight` (the packed weight), `scales` (int8: (out,); int4: (in / 32, out, 2),
    scale and zero per group), for int8 in 4-bit planes `low` and `low_scales` too, and the
    float `bias`. `kernel` names the entry of `KERNELS` that multiplies by them."""

    def __init__(self, mode: str, weight: Tensor, bias: Tensor | None,
                 grid: Tensor | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.out_features, self.in_features = weight.shape
        self.kernel, buffers = PACKERS[mode](weight.detach().float(), grid)
        for name, tensor in buffers.items():
            self.register_buffer(name, tensor)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
        y = KERNELS[self.kernel](rows, self)
        y = y.to(x.dtype).view(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"mode={self.mode!r}, kernel={self.kernel!r}, bias={self.bias is not None}")


def _int4_mm(x: Tensor, weight: Tensor, scales: Tensor) -> Tensor:
    return torch._weight_int4pack_mm_for_cpu(x, weight, GROUP, scales)


# kernel name -> (bf16 rows, the layer) -> rows out
KERNELS: dict[str, Callable[[Tensor, PackedLinear], Tensor]] = {
    "onednn_bf16": lambda x, m: torch.ops.mkldnn._linear_pointwise(x, m.weight, None, "none",
                                                                   [], ""),
    "dense_bf16": lambda x, m: torch.nn.functional.linear(x, m.weight),
    "int8pack": lambda x, m: torch._weight_int8pack_mm(x, m.weight, m.scales),
    "int4pack": lambda x, m: _int4_mm(x, m.weight, m.scales),
    # int8 codes as two 4-bit planes, high and low: two passes of the int4 kernel stream
    # 1.25 bytes per weight faster than one of the int8 kernel streams 1 (tools/bench_decode.py)
    "int4pack_planes": lambda x, m: _int4_mm(x, m.weight, m.scales).float()
    + _int4_mm(x, m.low, m.low_scales),
}


@functools.cache
def _onednn_bf16() -> bool:
    """Whether this CPU runs oneDNN's bf16 kernels: they need AVX-512 (BW, VL, DQ) or
    AVX-NE-CONVERT, which an AVX2-only CPU (some AMD EPYC) lacks; torch says so only by
    raising when a weight is packed."""
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.zeros(16, 16, dtype=torch.bfloat16), 1)
    except RuntimeError:
        return False
    return True


def _pack_bf16(weight: Tensor, grid: Tensor | None) -> tuple[str, dict[str, Tensor | None]]:
    """oneDNN's blocked layout where the CPU runs it, else a plain bf16 matrix (the same
    products, through torch's own bf16 matmul)."""
    weight = weight.to(torch.bfloat16)
    if not _onednn_bf16():
        return "dense_bf16", {"weight": weight.contiguous(), "scales": None}
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
    return "onednn_bf16", {"weight": packed, "scales": None}


ROWS = 4096  # rows quantized at a time: a float temporary of a 262k-row head would be 0.7 GB


def _pack_int8(weight: Tensor, grid: Tensor | None) -> tuple[str, dict[str, Tensor | None]]:
    """Symmetric per output channel; in two 4-bit planes where the int4 kernel takes the shape:
    c + 128 = 16 high + low, w = c s = (high - 8) 16 s + 8 s + (low - 8) s (the low plane
    centred, so that neither pass's bf16 output is larger than the product)."""
    low, high = weight.aminmax(dim=1)  # no |w| temporary
    scale = torch.maximum(high, -low).clamp(min=torch.finfo(torch.float32).tiny) / 127
    scale = scale.to(torch.bfloat16).float()  # the codes are chosen for the scale as stored
    codes = torch.empty(weight.shape, dtype=torch.int8)
    for rows, part, s in zip(codes.split(ROWS), weight.split(ROWS), scale.split(ROWS),
                             strict=True):
        rows.copy_((part / s[:, None]).round_().clamp_(-127, 127))
    out, width = weight.shape
    if not MODES["int4"].fits(out, width):
        return "int8pack", {"weight": codes, "scales": scale.to(torch.bfloat16)}
    per_group = scale.expand(width // GROUP, out)
    planes: dict[str, Tensor | None] = {}
    for name, plane, step, zero in (("weight", lambda c: c // 16, 16, 8),
                                    ("low", lambda c: c % 16, 1, 0)):
        planes[name] = torch.cat([_int4_pack(plane(part.to(torch.int32) + 128))
                                  for part in codes.split(ROWS)])
        grid = torch.stack([step * per_group, zero * per_group], -1).to(torch.bfloat16)
        planes["scales" if name == "weight" else "low_scales"] = grid.contiguous()
    return "int4pack_planes", planes


def _int4_pack(codes: Tensor) -> Tensor:
    """Codes 0..15 (rows, in), int32, in the int4 kernel's layout (row blocks of 64 or fewer,
    so a matrix packs the same in pieces of `ROWS`)."""
    return torch._convert_weight_to_int4pack_for_cpu(codes, 1)


def int4_grid(weight: Tensor) -> Tensor:
    """Per group of 32 inputs, the (scale, zero) of w = (q - 8) * scale + zero, q in 0..15,
    that spans the group's min and max: (out, in / 32, 2)."""
    groups = weight.view(weight.shape[0], -1, GROUP)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / 15).clamp(min=torch.finfo(torch.float32).tiny)
    return torch.stack([scale, low + 8 * scale], -1)


def _pack_int4(weight: Tensor, grid: Tensor | None) -> tuple[str, dict[str, Tensor | None]]:
    out, width = weight.shape
    grid = (int4_grid(weight) if grid is None else grid).to(torch.bfloat16)
    scale, zero = grid.float().unbind(-1)  # the codes are chosen for the grid as stored
    scale = scale.where(scale != 0, 1.0)  # a group with scale 0 is all `zero`: any code does
    groups = weight.view(out, -1, GROUP)
    codes = ((groups - zero[..., None]) / scale[..., None] + 8).round().clamp(0, 15)
    packed = _int4_pack(codes.view(out, width).to(torch.int32))
    return "int4pack", {"weight": packed, "scales": grid.transpose(0, 1).contiguous()}


# mode -> (float weight, its own int4 grid or None) -> (kernel name, buffers)
PACKERS: dict[str, Callable[[Tensor, Tensor | None], tuple[str, dict[str, Tensor | None]]]] = {
    "bf16": _pack_bf16, "int8": _pack_int8, "int4": _pack_int4}


def _packable(name: str, module: nn.Module) -> bool:
    """The language model's linear layers: not a MoE router (routing reads its weight in
    fp32) nor a classifier head."""
    return isinstance(module, Linear) and not name.endswith(("router", "classifier"))


def choose(mode: str, out_features: int, in_features: int) -> str:
    """The mode a layer of this shape gets: `mode`, or the first fallback its kernel takes."""
    while not MODES[mode].fits(out_features, in_features):
        mode = FALLBACK[mode]
    return mode


def quantize(model: Model, mode: str, *, modes: Mapping[str, str] | None = None,
             grids: Mapping[str, Tensor] | None = None) -> Model:
    """Pack `model`'s linear layers for CPU inference, in place (see the module docstring);
    `modes` maps a weight's name to a mode of its own, `grids` to its own int4 grid (out,
    in / 32, 2). Returns the model, with `model.quantized` set to the mode."""
    modes = modes or {}
    for wanted in [mode, *modes.values()]:
        check_quantization(wanted)
    if getattr(model, "quantized", None):
        raise ValueError(f"{model.spec.name} is already quantized ({model.quantized}); load it "
                         f"again to pack it another way")
    device = model.embed.weight.device
    if device.type != "cpu":
        raise ValueError(f"quantize packs weights for torch's CPU kernels; {model.spec.name} is "
                         f"on {device} (load it on the CPU)")
    if not _onednn_available():
        raise ValueError("quantize needs torch's oneDNN (mkldnn) CPU kernels, which this torch "
                         "build lacks")
    grids = grids or {}
    chosen: dict[str, str] = {}
    names = [name for name, module in model.named_modules() if _packable(name, module)]
    for name in names:  # by name, so that each float layer is freed once packed
        module = model.get_submodule(name)
        assert isinstance(module, Linear)
        wanted = modes.get(f"{name}.weight", MODES[mode].head if name == "head" else mode)
        kind = choose(wanted, module.out_features, module.in_features)
        grid = grids.get(f"{name}.weight") if kind == "int4" else None
        packed = PackedLinear(kind, module.weight, module.bias, grid)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, packed)
        chosen[name] = kind
        del module, packed
    model.quantized = mode
    model.packed_modes = chosen
    return model


def _storage_key(tensor: Tensor) -> int:
    """What identifies a tensor's memory: its data pointer, or for oneDNN's opaque packed
    tensors (which have none) the tensor itself."""
    return id(tensor) if tensor.is_mkldnn else tensor.data_ptr()


def packed_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (packed weights as stored), each tensor once."""
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if _storage_key(tensor) not in seen:
            seen.add(_storage_key(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


__all__ = ["FALLBACK", "GROUP", "MODES", "PackedLinear", "choose", "int4_grid", "packed_bytes",
           "quantize"]
