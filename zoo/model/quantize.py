"""Weights packed for CPU inference: bf16, int8 per output channel, int4 per group of 32.

Decoding one token reads every weight once, so on a CPU its speed is the speed at which the
matrix-vector kernels stream weights. PyTorch ships three that stream fewer or better-laid-out
bytes than fp32 `F.linear`, measured on this project's CPU (tools/bench_decode.py): oneDNN's
bf16 kernel on weights reordered once into its blocked layout, `_weight_int8pack_mm` (int8
weights, a bf16 scale per output channel) and `_weight_int4pack_mm_for_cpu` (4-bit weights
with a bf16 scale and zero per group of 32 inputs). All three take bf16 activations; a
`PackedLinear` converts its input and returns the model's dtype, so norms, rotary, attention
and the KV cache keep the model's precision (fp32 attention is also several times faster than
bf16 attention on this CPU for one query). zoo's own kernels (zoo.model.native: int8 codes as
int8pack holds them, 4-bit codes in a layout of its own) stream the same numbers 1.5-3x faster
on an AMD EPYC, where measuring picks them; its int8 kernel multiplies fp32 activations as
they are, its int4 kernel rounds them to bf16 itself.

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
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from zoo.model import hugepages, kernels, native
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
# bytes per weight a mode stores at most: int8 as two 4-bit planes, each with a bf16 scale and
# zero per group of 32 inputs; int4 as one
BYTES_PER_WEIGHT: dict[str, float] = {"bf16": 2.0, "int8": 1.0 + 8 / GROUP,
                                      "int4": 0.5 + 4 / GROUP}


def _onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                            "_reorder_linear_weight")


class PackedLinear(nn.Module):
    """A linear layer whose weight is packed for one of torch's CPU kernels or zoo's own (see
    `MODES`, zoo.model.native).

    Buffers: `weight` (the packed weight), `scales` (int8: (out,); int4: (in / 32, out, 2),
    scale and zero per group; zoo's int4: (out, in / 32) and `zeros` beside them), for int8 in
    4-bit planes `low` and `low_scales` too, and the float `bias`. `kernel` names the entry of
    `KERNELS` that multiplies by them one row at a time; where a mode has several packings
    (`candidates`), the fastest on this machine is measured and kept (zoo.model.kernels), and
    so is, for more than `FEW_ROWS` rows (a prompt), whether to run the same kernel or to
    dequantize the weight once per call and multiply by torch's float matmul (the int4
    kernels are matrix-vector kernels)."""

    def __init__(self, mode: str, weight: Tensor, bias: Tensor | None,
                 grid: Tensor | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.out_features, self.in_features = weight.shape
        self.many: dict[int, str] = {}  # rows bucket -> the kernel chosen for it
        self.ran_many: set[str] = set()  # kernels run on more than FEW_ROWS rows
        self.kernel, buffers = _pack_fastest(mode, weight.detach().float(), grid)
        for name, tensor in buffers.items():
            self.register_buffer(name, tensor)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.packed = self._buffers  # the same dict: what `to`, `load` and layouts replace

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features)
        kernel = self.kernel
        if rows.shape[0] > FEW_ROWS:
            kernel = self._many_rows(rows.to(torch.bfloat16))
            self.ran_many.add(kernel)
        y = KERNELS[kernel](rows if kernel in AS_GIVEN else rows.to(torch.bfloat16), self)
        y = y.to(x.dtype).view(*x.shape[:-1], self.out_features)
        bias = self.packed["bias"]
        return y if bias is None else y + bias

    def native_form(self) -> tuple[str, dict[str, Any], tuple[str, ...]] | None:
        """For zoo's one-call block step (zoo.model.decoder.Block): the one-row kernel, where
        native.cpp runs it too, the dict its buffers are read from at each call (`packed`),
        and their keys (`NATIVE_FORMS`, then the bias); else None."""
        names = NATIVE_FORMS.get(self.kernel)
        return None if names is None else (self.kernel, self.packed, (*names, "bias"))

    def kernel_choice(self) -> tuple[str | None, tuple[str, ...]]:
        """The one-row kernel, and those run for more rows (zoo.model.kernels.summary)."""
        return self.kernel, tuple(sorted(self.ran_many))

    def rows(self, index: Tensor) -> Tensor | None:
        """The weight's rows `index` (fp32, dequantized from the packed buffers), or None for
        oneDNN's opaque blocked layout, whose rows cannot be read."""
        return ROWS_OF[self.kernel](self, index) if self.kernel in ROWS_OF else None

    def dequantized(self) -> Tensor | None:
        """The whole weight in fp32 (None where `rows` is)."""
        return self.rows(torch.arange(self.out_features))

    def _many_rows(self, rows: Tensor) -> str:
        """The kernel for this many rows: measured once per rows bucket (powers of 8)."""
        bucket = min(8 ** math.ceil(math.log(rows.shape[0], 8)), 512)
        if bucket not in self.many:
            candidates = {self.kernel: lambda: KERNELS[self.kernel](rows, self)}
            if self.kernel in ROWS_OF and _int4_block() is not None:
                candidates["dequant_fp32"] = lambda: KERNELS["dequant_fp32"](rows, self)
                candidates["dequant_bf16"] = lambda: KERNELS["dequant_bf16"](rows, self)
            few = rows[:FEW_ROWS]
            sample = torch.cat([torch.arange(min(64, self.out_features)),
                                torch.arange(max(self.out_features - 64, 0), self.out_features)])
            weight = self.rows(sample.unique()) if len(candidates) > 1 else None
            name = kernels.key((self.out_features, self.in_features), torch.bfloat16,
                               f"{self.mode}:{self.kernel}", bucket)
            self.many[bucket] = kernels.choose(
                name, candidates, self.kernel,
                lambda y: weight is not None and _agrees(y[:FEW_ROWS], few, weight,
                                                         sample.unique()))
        return self.many[bucket]

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"mode={self.mode!r}, kernel={self.kernel!r}, bias={self.bias is not None}")


FEW_ROWS = 4  # up to this many rows (decoding a small batch), the one-row kernel always runs


def _agrees(y: Tensor, x: Tensor, weight: Tensor, columns: Tensor) -> bool:
    """Whether a bf16-in kernel's output `y` (rows, out) equals x @ weight[columns].T within
    one bf16 rounding plus fp32 accumulation (zoo.model.kernels.tolerance)."""
    exact = x.double() @ weight.double().t()
    bound = kernels.tolerance(x.double().abs() @ weight.double().abs().t(), x.shape[-1],
                              torch.bfloat16)
    return bool(((y.double()[:, columns] - exact).abs() <= bound).all())


def _int4_mm(x: Tensor, weight: Tensor, scales: Tensor) -> Tensor:
    return torch._weight_int4pack_mm_for_cpu(x, weight, GROUP, scales)


def _dequant_mm(x: Tensor, m: PackedLinear, dtype: torch.dtype) -> Tensor:
    weight = m.dequantized()
    assert weight is not None
    return torch.nn.functional.linear(x.to(dtype), weight.to(dtype)).to(torch.bfloat16)


def _dense_bf16(x: Tensor, m: PackedLinear) -> Tensor:
    return torch.nn.functional.linear(x, m.packed["weight"])


# kernel name -> (bf16 rows, the layer) -> rows out; the layer's buffers are read from its
# `packed` dict (each a module attribute lookup otherwise: 0.5 us, five a layer when decoding)
KERNELS: dict[str, Callable[[Tensor, PackedLinear], Tensor]] = {
    "onednn_bf16": lambda x, m: torch.ops.mkldnn._linear_pointwise(
        x, m.packed["weight"], None, "none", [], ""),
    "dense_bf16": _dense_bf16,
    # the same bf16 matrix stored transposed ([in, out] in memory): addmm's other layout
    "dense_bf16_t": _dense_bf16,
    "int8pack": lambda x, m: torch._weight_int8pack_mm(x, m.packed["weight"], m.packed["scales"]),
    "int4pack": lambda x, m: _int4_mm(x, m.packed["weight"], m.packed["scales"]),
    # int8 codes as two 4-bit planes, high and low: two passes of the int4 kernel stream
    # 1.25 bytes per weight faster than one of the int8 kernel streams 1 (tools/bench_decode.py)
    "int4pack_planes": lambda x, m: _int4_mm(x, m.packed["weight"], m.packed["scales"]).float()
    + _int4_mm(x, m.packed["low"], m.packed["low_scales"]),
    # zoo's own (zoo.model.native): the int8 codes as int8pack holds them; 4-bit codes in its
    # own layout (`_pack_zoo_int4`)
    "zoo_bf16": lambda x, m: native.ops().linear_bf16(x, m.packed["weight"]),
    "zoo_int8": lambda x, m: native.ops().linear_int8(x, m.packed["weight"], m.packed["scales"]),
    "zoo_int4": lambda x, m: native.ops().linear_int4(x, m.packed["weight"], m.packed["scales"],
                                                      m.packed["zeros"]),
    # for many rows: the weight dequantized once per call, then torch's float matmul
    "dequant_fp32": lambda x, m: _dequant_mm(x, m, torch.float32),
    "dequant_bf16": lambda x, m: _dequant_mm(x, m, torch.bfloat16),
}


# kernels that take the activations as given (fp32 or bf16: zoo's own, which read fp32 rows
# exactly, or round them to bf16 themselves), where torch's take bf16
AS_GIVEN = frozenset({"zoo_bf16", "zoo_int8", "zoo_int4"})
# the one-row kernels native.cpp's block step runs too (`project` there), and the buffers it
# reads, in its order (three slots; "" for none); int4pack_planes' two planes are not among them
NATIVE_FORMS: dict[str, tuple[str, str, str]] = {
    "zoo_bf16": ("weight", "", ""), "zoo_int8": ("weight", "scales", ""),
    "zoo_int4": ("weight", "scales", "zeros"), "int4pack": ("weight", "scales", ""),
    "int8pack": ("weight", "scales", ""), "dense_bf16": ("weight", "", ""),
    "dense_bf16_t": ("weight", "", ""), "onednn_bf16": ("weight", "", "")}


@functools.cache
def _int4_block() -> int | None:
    """Rows per block of the int4 kernel's packed layout on this CPU (32 with AVX2, 64 with
    AVX-512 in torch 2.13: the layout follows the vector width), found by packing known codes
    and reading them back; None if no known layout matches (then nothing reads packed rows)."""
    codes = torch.arange(80 * 64, dtype=torch.int32).view(80, 64) * 7 % 16
    packed = _int4_pack(codes)
    for block in (64, 32):
        try:
            if torch.equal(_int4_codes(packed, 64, block, torch.arange(80)).int(), codes):
                return block
        except RuntimeError:
            continue
    return None


def _int4_codes(packed: Tensor, width: int, block: int, index: Tensor) -> Tensor:
    """The 4-bit codes (len(index), width) of rows `index` of an int4-packed matrix: whole
    blocks of `block` rows hold, per input, the first half of the block's rows in the low
    nibbles of block / 2 bytes and the second half in the high ones; a last, shorter block
    of r rows pairs neighbouring rows in one byte (low nibble the even row)."""
    n = packed.shape[0]
    full = n // block * block
    half = block // 2
    inside = index.clamp(max=max(full - 1, 0))
    codes = torch.empty(len(index), width, dtype=torch.uint8)
    if full:
        blocks = packed[:full].view(full // block, width, half)
        j = inside % block
        byte = blocks[inside // block, :, j % half]  # (len(index), width)
        codes = torch.where((j < half)[:, None], byte & 15, byte >> 4)
    if n > full:
        rest = packed[full:].view(width, (n - full) // 2)
        j = (index - full).clamp(min=0)
        byte = rest[:, j // 2].t()
        tail = torch.where((j % 2 == 0)[:, None], byte & 15, byte >> 4)
        codes = torch.where((index >= full)[:, None], tail, codes) if full else tail
    return codes


def _int4_values(codes: Tensor, scale: Tensor, zero: Tensor) -> Tensor:
    """4-bit codes (rows, in) in fp32 on their grid, scale and zero (rows, in / 32) apiece:
    (q - 8) * scale + zero per group (every int4 layout holds these numbers)."""
    groups = codes.view(codes.shape[0], -1, GROUP).float()
    return ((groups - 8) * scale.float()[..., None] + zero.float()[..., None]).view(codes.shape)


def _int4_rows(packed: Tensor, scales: Tensor, index: Tensor, width: int) -> Tensor:
    """Rows `index` of an int4-packed weight in fp32."""
    block = _int4_block()
    assert block is not None
    grid = scales[:, index].transpose(0, 1)  # (rows, in / 32, 2)
    return _int4_values(_int4_codes(packed, width, block, index), grid[..., 0], grid[..., 1])


def _zoo_int4_codes(packed: Tensor) -> Tensor:
    """The 4-bit codes (rows, in) of zoo's int4 layout (rows, in / 2): per 64 inputs, 32
    bytes holding input j in the low nibble of byte j and input 32 + j in the high one."""
    blocks = packed.view(packed.shape[0], -1, 1, 32)
    return torch.cat([blocks & 15, blocks >> 4], 2).view(packed.shape[0], -1)


def _zoo_int4_rows(m: PackedLinear, index: Tensor) -> Tensor:
    """Rows `index` of a weight in zoo's int4 layout, in fp32."""
    zeros = m.zeros[index // 16, :, index % 16]  # stored per tile of 16 rows, group, row
    return _int4_values(_zoo_int4_codes(m.weight[index]), m.scales[index], zeros)


def _int8_rows(m: PackedLinear, index: Tensor) -> Tensor:
    """Rows `index` of int8 codes with a scale per row, in fp32."""
    return m.weight[index].float() * m.scales[index].float()[:, None]


def _dense_rows(m: PackedLinear, index: Tensor) -> Tensor:
    return m.weight[index].float()


# kernel name -> (layer, row index) -> those rows of its weight in fp32 (not oneDNN's layout)
ROWS_OF: dict[str, Callable[[PackedLinear, Tensor], Tensor]] = {
    "dense_bf16": _dense_rows,
    "dense_bf16_t": _dense_rows,
    "int8pack": _int8_rows,
    "int4pack": lambda m, i: _int4_rows(m.weight, m.scales, i, m.in_features),
    "int4pack_planes": lambda m, i: _int4_rows(m.weight, m.scales, i, m.in_features)
    + _int4_rows(m.low, m.low_scales, i, m.in_features),
    "zoo_bf16": _dense_rows,
    "zoo_int8": _int8_rows,
    "zoo_int4": _zoo_int4_rows,
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


Buffers = dict[str, Tensor | None]


def _pack_onednn_bf16(weight: Tensor, grid: Tensor | None) -> Buffers:
    """oneDNN's blocked layout (on a CPU that runs it: `_onednn_bf16`)."""
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.to(torch.bfloat16), 1)
    return {"weight": packed, "scales": None}


def _pack_dense_bf16(weight: Tensor, grid: Tensor | None) -> Buffers:
    """A plain bf16 matrix: the same products, through torch's own bf16 matmul."""
    return {"weight": weight.to(torch.bfloat16).contiguous(), "scales": None}


def _pack_dense_bf16_t(weight: Tensor, grid: Tensor | None) -> Buffers:
    """The bf16 matrix stored transposed: still (out, in), [in, out] in memory."""
    return {"weight": weight.t().to(torch.bfloat16).contiguous().t(), "scales": None}


ROWS = 4096  # rows quantized at a time: a float temporary of a 262k-row head would be 0.7 GB


def _int8_scale(weight: Tensor) -> Tensor:
    """Symmetric per output channel: the fp32 value of each row's bf16 scale, max |w| / 127."""
    low, high = weight.aminmax(dim=1)  # no |w| temporary
    scale = torch.maximum(high, -low).clamp(min=torch.finfo(torch.float32).tiny) / 127
    return scale.to(torch.bfloat16).float()  # the codes are chosen for the scale as stored


def _int8_parts(weight: Tensor, scale: Tensor) -> Iterator[tuple[int, Tensor]]:
    """(first row, int8 codes) of `ROWS` rows at a time: no float temporary of a whole head."""
    for at in range(0, weight.shape[0], ROWS):
        part, s = weight[at:at + ROWS], scale[at:at + ROWS, None]
        yield at, (part / s).round_().clamp_(-127, 127).to(torch.int8)


def _int8_codes(weight: Tensor) -> tuple[Tensor, Tensor]:
    """The int8 codes of `weight` and the fp32 value of each row's bf16 scale."""
    scale = _int8_scale(weight)
    codes = torch.empty(weight.shape, dtype=torch.int8)
    for at, part in _int8_parts(weight, scale):
        codes[at:at + len(part)] = part
    return codes, scale


def _pack_int8(weight: Tensor, grid: Tensor | None) -> Buffers:
    codes, scale = _int8_codes(weight)
    return {"weight": codes, "scales": scale.to(torch.bfloat16)}


def _pack_int8_planes(weight: Tensor, grid: Tensor | None) -> Buffers:
    """The int8 codes in two 4-bit planes for the int4 kernel: c + 128 = 16 high + low,
    w = c s = (high - 8) 16 s + 8 s + (low - 8) s (the low plane centred, so that neither
    pass's bf16 output is larger than the product). Packed `ROWS` rows at a time into the
    planes, which the kernel's layout allows (`_int4_pack`): no whole-matrix temporary."""
    scale = _int8_scale(weight)
    out, width = weight.shape
    per_group = scale.expand(width // GROUP, out)
    planes: Buffers = {}
    for at, part in _int8_parts(weight, scale):
        shifted = part.to(torch.int32) + 128
        for name, plane in (("weight", shifted // 16), ("low", shifted % 16)):
            packed = _int4_pack(plane)
            if name not in planes:
                planes[name] = torch.empty((out, *packed.shape[1:]), dtype=packed.dtype)
            planes[name][at:at + len(packed)] = packed  # type: ignore[index]
    for name, step, zero in (("scales", 16, 8), ("low_scales", 1, 0)):
        planes[name] = torch.stack([step * per_group, zero * per_group], -1).to(
            torch.bfloat16).contiguous()
    return planes


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


def _int4_quantized(weight: Tensor, grid: Tensor | None) -> tuple[Tensor, Tensor]:
    """The 4-bit codes (out, in) of `weight` on its grid (its own, else `int4_grid`), and the
    grid as stored, bf16 (out, in / 32, 2)."""
    out, width = weight.shape
    grid = (int4_grid(weight) if grid is None else grid).to(torch.bfloat16)
    scale, zero = grid.float().unbind(-1)  # the codes are chosen for the grid as stored
    scale = scale.where(scale != 0, 1.0)  # a group with scale 0 is all `zero`: any code does
    groups = weight.view(out, -1, GROUP)
    codes = ((groups - zero[..., None]) / scale[..., None] + 8).round().clamp(0, 15)
    return codes.view(out, width), grid


def _pack_int4(weight: Tensor, grid: Tensor | None) -> Buffers:
    codes, grid = _int4_quantized(weight, grid)
    return {"weight": _int4_pack(codes.to(torch.int32)),
            "scales": grid.transpose(0, 1).contiguous()}


def _pack_zoo_int4(weight: Tensor, grid: Tensor | None) -> Buffers:
    """zoo's int4 layout (`_zoo_int4_codes`), the scales (out, in / 32) and the zeros per tile
    of 16 rows (out / 16, in / 32, 16): the kernel sums a tile's zero terms together."""
    codes, grid = _int4_quantized(weight, grid)
    out = codes.shape[0]
    blocks = codes.to(torch.uint8).view(out, -1, 2, 32)
    packed = (blocks[:, :, 0] | blocks[:, :, 1] << 4).view(out, -1)
    zeros = grid[..., 1].reshape(out // 16, 16, -1).transpose(1, 2).contiguous()
    return {"weight": packed, "scales": grid[..., 0].contiguous(), "zeros": zeros}


# kernel name -> (float weight, its own int4 grid or None) -> buffers
PACKERS: dict[str, Callable[[Tensor, Tensor | None], Buffers]] = {
    "onednn_bf16": _pack_onednn_bf16, "dense_bf16": _pack_dense_bf16,
    "dense_bf16_t": _pack_dense_bf16_t, "int8pack": _pack_int8,
    "int4pack_planes": _pack_int8_planes, "int4pack": _pack_int4, "zoo_bf16": _pack_dense_bf16,
    "zoo_int8": _pack_int8, "zoo_int4": _pack_zoo_int4}


def candidates(mode: str, out_features: int, in_features: int) -> list[str]:
    """The packings of a mode that this CPU runs for this shape, the fixed choice first (the
    one measuring-off keeps): every one holds the same numbers (bf16 weights; int8 codes and
    scales), so any of them may be chosen."""
    if mode == "bf16":
        names = ["onednn_bf16", "dense_bf16", "dense_bf16_t"] if _onednn_bf16() \
            else ["dense_bf16", "dense_bf16_t"]
        return [*names, "zoo_bf16"] if kernels.offered("zoo_bf16") else names
    if mode == "int8":
        names = ["int4pack_planes", "int8pack"] if MODES["int4"].fits(out_features,
                                                                      in_features) \
            else ["int8pack"]
        return [*names, "zoo_int8"] if kernels.offered("zoo_int8") else names
    # zoo's int4 layout holds 64 inputs in 32 bytes (int4 itself needs 16 | out)
    return ["int4pack", "zoo_int4"] if in_features % 64 == 0 and kernels.offered("zoo_int4") \
        else ["int4pack"]


def _pack_fastest(mode: str, weight: Tensor, grid: Tensor | None) -> tuple[str, Buffers]:
    """The packing of `mode` whose kernel multiplies one row fastest on this machine
    (zoo.model.kernels: measured once per shape, then read from the cache), and its buffers."""
    out, width = weight.shape
    names = candidates(mode, out, width)
    if len(names) == 1:
        return names[0], PACKERS[names[0]](weight, grid)
    # timed on the first rows of a large weight (bytes counted as bf16, the largest packing;
    # `rotation` adds copies of a smaller one)
    rows = kernels.timed_rows(out, 2 * width)
    whole, weight = weight, weight[:rows]
    whole_grid, grid = grid, None if grid is None else grid[:rows]
    packed: dict[str, Buffers] = {}
    turns: dict[str, Callable[[], Buffers]] = {}  # each run on the next copy (kernels.rotation)
    x = torch.randn(1, width, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    layer = nn.Module()

    def run(kernel: str) -> Callable[[], Tensor]:
        def go() -> Tensor:
            if kernel not in packed:
                packed[kernel] = PACKERS[kernel](weight, grid)
                turns[kernel] = kernels.rotation(packed[kernel], _nbytes(packed[kernel]),
                                                 _cloned)
            layer.packed = turns[kernel]()
            return KERNELS[kernel](x, layer)  # type: ignore[arg-type]
        return go

    sample = torch.cat([torch.arange(min(64, rows)),
                        torch.arange(max(rows - 64, 0), rows)]).unique()
    if mode == "int8":
        codes, scale = _int8_codes(weight[sample])
        reference = codes.float() * scale[:, None]
    elif mode == "int4":
        codes, stored = _int4_quantized(weight[sample], None if grid is None else grid[sample])
        reference = _int4_values(codes, stored[..., 0], stored[..., 1])
    else:
        reference = weight[sample].to(torch.bfloat16).float()
    name = kernels.key((out, width), torch.bfloat16, mode, 1)
    kernel = kernels.choose(name, {k: run(k) for k in names}, names[0],
                            lambda y: _agrees(y, x, reference, sample))
    if rows == out and kernel in packed:
        return kernel, packed.pop(kernel)
    packed.clear()
    turns.clear()
    return kernel, PACKERS[kernel](whole, whole_grid)


def _nbytes(buffers: Buffers) -> int:
    """Bytes of a packing's buffers (oneDNN's opaque blocked tensors: those of the plain
    matrix)."""
    return sum(t.numel() * t.element_size() for t in buffers.values() if t is not None)


def _cloned(buffers: Buffers) -> Buffers:
    return {name: None if t is None else t.clone() for name, t in buffers.items()}


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
    return Packing(model, mode, modes=modes, grids=grids).finish()


class Packing:
    """`quantize`, one layer at a time: a loader filling a meta-built model calls `filled`
    with each tensor it assigns, and each linear layer is packed as soon as its weights are
    there, its float weights freed, so that the float model is never whole in memory (Gemma 3
    270M's int4 load peaked at 2.26 GB packing afterwards); `finish` packs what is left and
    returns the model. `device` is where the model's weights will be (default: where its
    embedding is)."""

    def __init__(self, model: Model, mode: str, *, modes: Mapping[str, str] | None = None,
                 grids: Mapping[str, Tensor] | None = None,
                 device: torch.device | None = None) -> None:
        self.modes = dict(modes or {})
        for wanted in [mode, *self.modes.values()]:
            check_quantization(wanted)
        if getattr(model, "quantized", None):
            raise ValueError(f"{model.spec.name} is already quantized ({model.quantized}); "
                             f"load it again to pack it another way")
        device = model.embed.weight.device if device is None else device
        if device.type != "cpu":
            raise ValueError(f"quantize packs weights for torch's CPU kernels; "
                             f"{model.spec.name} is on {device} (load it on the CPU)")
        if not _onednn_available():
            raise ValueError("quantize needs torch's oneDNN (mkldnn) CPU kernels, which this "
                             "torch build lacks")
        self.model, self.mode, self.grids = model, mode, dict(grids or {})
        self.order = [name for name, module in model.named_modules() if _packable(name, module)]
        self.chosen: dict[str, str] = {}  # layer -> the mode it was packed in

    @property
    def pending(self) -> list[str]:
        """The layers not packed yet, in the model's order."""
        return [name for name in self.order if name not in self.chosen]

    def _kind(self, name: str) -> str:
        """The mode layer `name` is packed in: its own, the head's, or the mode, then the first
        fallback its kernel takes (`choose`)."""
        layer = self.model.get_submodule(name)
        wanted = self.modes.get(f"{name}.weight",
                                MODES[self.mode].head if name == "head" else self.mode)
        return choose(wanted, layer.out_features, layer.in_features)

    def peak(self, sizes: Mapping[str, int]) -> int:
        """Bytes the model holds at most while packed as it is filled, from each tensor's float
        bytes (by name): packed weights (`BYTES_PER_WEIGHT` of their mode, the fallback's
        where theirs does not take the shape), float everything else, and the largest float
        weight, held while its layer is packed."""
        total, largest = 0, 0
        names = dict(sizes)
        if self.model.spec.tie_embeddings and "embed.weight" in names:
            names["head.weight"] = 0  # packed from the embedding, which stays until the end
        for name, nbytes in names.items():
            owner = name.rpartition(".")[0]
            if owner not in self.order or not name.endswith(".weight"):
                total += nbytes
                continue
            layer = self.model.get_submodule(owner)
            total += math.ceil(layer.out_features * layer.in_features
                               * BYTES_PER_WEIGHT[self._kind(owner)])
            largest = max(largest, nbytes)
        return total + largest

    def filled(self, tensor: str) -> None:
        """The model's tensor `tensor` was just assigned: pack its layer if it is complete (a
        tied embedding completes the head)."""
        owner = tensor.rpartition(".")[0]
        owners = [owner, "head"] if tensor == "embed.weight" and \
            self.model.spec.tie_embeddings else [owner]
        for name in owners:
            if name in self.pending and not any(
                    t.is_meta for t in self.model.get_submodule(name).parameters()):
                self._pack(name)

    def _pack(self, name: str) -> None:
        module = self.model.get_submodule(name)
        assert isinstance(module, Linear)
        kind = self._kind(name)
        grid = self.grids.pop(f"{name}.weight", None) if kind == "int4" else None
        packed = PackedLinear(kind, module.weight, module.bias, grid)
        parent, _, attr = name.rpartition(".")
        setattr(self.model.get_submodule(parent) if parent else self.model, attr, packed)
        self.chosen[name] = kind
        if name == "head" and self.model.spec.tie_embeddings and \
                packed.rows(torch.zeros(1, dtype=torch.long)) is not None:
            # the embedding's rows read from the packed head: its float table freed now
            self.model.embed = PackedEmbedding(packed, self.model.embed.weight.dtype)
        del module, packed
        hugepages.release()  # the float weights, and the packing's temporaries

    def finish(self) -> Model:
        """Every layer not packed yet packed, the tied embedding read from the packed head, and
        the packed weights laid out; the model, with `quantized` and `packed_modes` set."""
        model = self.model
        for name in self.pending:  # by name, so that each float layer is freed once packed
            self._pack(name)
        _lay_out(model)
        model.quantized = self.mode
        model.packed_modes = {name: self.chosen[name] for name in self.order}
        return model


def _lay_out(model: Model) -> None:
    """The packed weights copied into one region of 2 MiB pages (zoo.model.hugepages), as
    `Model.lay_out` does for float weights."""
    layers = [m for m in model.modules() if isinstance(m, PackedLinear)]
    buffers = [(m, name) for m in layers for name, t in m.named_buffers(recurse=False)
               if t is not None and not t.is_mkldnn and name != "bias"]
    pages = hugepages.region(getattr(m, name) for m, name in buffers)
    hugepages.release()  # the float weights
    if pages is not None:
        for module, name in buffers:
            setattr(module, name, pages.place(getattr(module, name)))
            hugepages.release()  # its old bytes, before the next is copied


class PackedEmbedding(nn.Module):
    """The token embedding of a model whose head is tied to it and packed: each token's row is
    read from the packed head and dequantized (as llama.cpp reads its quantized token_embd),
    so the model keeps no second, float copy of the table (671 MB in fp32 for Gemma 3 270M's
    262k x 640). The rows are those the head multiplies by: its int8 (or bf16) values."""

    def __init__(self, head: PackedLinear, dtype: torch.dtype) -> None:
        super().__init__()
        self.__dict__["source"] = head  # not a submodule: the head is the model's own
        self.dtype = dtype
        self.num_embeddings, self.embedding_dim = head.out_features, head.in_features

    @property
    def weight(self) -> Tensor:
        """No table: an empty (0, dim) tensor that says the device and dtype of the rows."""
        return torch.empty(0, self.embedding_dim, dtype=self.dtype,
                           device=self.source.scales.device if self.source.scales is not None
                           else torch.device("cpu"))

    def forward(self, input_ids: Tensor) -> Tensor:
        rows = self.source.rows(input_ids.reshape(-1))
        assert rows is not None
        return rows.to(self.dtype).view(*input_ids.shape, self.embedding_dim)

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, rows read from the packed head "
                f"({self.source.kernel})")


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


__all__ = ["FALLBACK", "GROUP", "MODES", "PackedEmbedding", "PackedLinear", "Packing", "candidates",
           "choose", "int4_grid", "packed_bytes", "quantize"]
