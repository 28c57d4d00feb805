"""The parts of a decoder block besides its attention (zoo.model.attention), each one module
with the spec's switches: linear layers and embeddings, one norm factory, the rotary tables
(every scaling), ALiBi's slopes, one MLP (plain or gated) and the mixture of experts.
Positions and masks are computed once per forward by `Model` and handed to every block, so a
block only does arithmetic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.model import hugepages, kernels, native
from zoo.spec import ModelSpec, RopeScaling

if TYPE_CHECKING:
    pass


def _onednn_linear() -> Any:
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


# oneDNN's fp32 matrix-vector kernels use every core, where the default BLAS path for a few
# rows runs on one: about 1.8x the decoding speed on one AMD EPYC (see tools/bench_generate.py),
# but slower than addmm over the transposed layout on an Intel Xeon; `Linear` measures which
# (zoo.model.kernels). It has no autograd, so it serves inference only.
ONEDNN_LINEAR = _onednn_linear()
CHECKED = 256  # output features compared with the exact product (the first and the last)
FEW_ROWS = 4  # rows zoo's matrix-vector kernels take (decoding); more go to torch's (a prompt)
# zoo's own kernel for a dtype's weights (zoo.model.native): its name, and its op
NATIVE: dict[torch.dtype, tuple[str, str]] = {torch.float32: ("zoo_fp32", "linear_f32"),
                                              torch.bfloat16: ("zoo_bf16", "linear_bf16")}


class Linear(nn.Linear):
    """nn.Linear whose inference kernel is measured on the machine (zoo.model.kernels): at its
    first CPU call without gradients, per dtype, one of

    - "onednn": oneDNN's linear over the [out, in] weight (the fixed fp32 choice);
    - "linear": F.linear over [out, in] (the fixed bf16 choice);
    - "linear_t": F.linear over the weight stored transposed, [in, out] in memory (addmm over
      a contiguous right-hand matrix): the weight's storage is rewritten once, in place, so
      the layer keeps its bytes and its parameter (never for a tied head, `shared`, whose
      rows the embedding reads);
    - "zoo_fp32", "zoo_bf16": zoo's own matrix-vector kernels over [out, in]
      (zoo.model.native), for up to FEW_ROWS rows; more rows (a prompt) go to oneDNN's kernel
      in fp32 (else F.linear).

    A `Model` chooses every layer's kernel at its first inference call instead, and lays the
    weights out itself (`Model.lay_out`; in 2 MiB pages with ZOO_HUGEPAGES=1).
    """

    shared = False  # the weight is also another module's (a tied head): keep its layout
    _kernel: tuple[torch.dtype, str] | None = None

    # Weights are set once, by Model.init_weights, after the module (built on the meta device)
    # is allocated: the stock reset_parameters would only burn time on meta tensors.
    def reset_parameters(self) -> None:
        pass

    def forward(self, x: Tensor) -> Tensor:
        if (x.dtype in (torch.float32, torch.bfloat16) and x.device.type == "cpu"
                and self.weight.dtype == x.dtype and not torch.is_grad_enabled()):
            kernel = self._kernel[1] if self._kernel is not None and \
                self._kernel[0] == x.dtype else self.choose(x.dtype)
            own = NATIVE[x.dtype]
            if kernel == own[0] and x.numel() <= FEW_ROWS * x.shape[-1]:
                op = getattr(native.ops(), own[1])
                y = op(x.reshape(-1, x.shape[-1]), self.weight).to(x.dtype)
                y = y.view(*x.shape[:-1], y.shape[-1])
                return y if self.bias is None else y + self.bias
            if kernel == "onednn" or (kernel == "zoo_fp32" and ONEDNN_LINEAR is not None):
                return ONEDNN_LINEAR(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)

    def native_form(self) -> tuple[str, dict[str, Any], tuple[str, ...]] | None:
        """For zoo's one-call block step (zoo.model.decoder.Block): the kernel that multiplies
        a few fp32 rows as `forward` does (chosen before: Model.lay_out; `project` in
        native.cpp runs each), the dict its tensors are read from at each call, and their keys
        (the weight, two unused, the bias); None before a kernel is chosen for fp32."""
        if self._kernel is None or self._kernel[0] != torch.float32 or \
                self.weight.dtype != torch.float32:
            return None
        return self._kernel[1], self._parameters, ("weight", "", "", "bias")

    def kernel_choice(self) -> tuple[str | None, tuple[str, ...]]:
        """The kernel chosen (None before the first inference call), for kernels.summary."""
        return (self._kernel[1] if self._kernel is not None else None), ()

    def transposed(self) -> bool:
        """Whether the kernel chosen reads the weight stored transposed ([in, out])."""
        return self._kernel is not None and self._kernel[1] == "linear_t"

    def choose(self, dtype: torch.dtype, relayout: bool = True) -> str:
        """The kernel for inputs of `dtype`: measured (or read from the cache) the first time,
        then kept; with `relayout`, the weight is rewritten in the layout it reads."""
        if self._kernel is not None and self._kernel[0] == dtype:
            return self._kernel[1]
        weight = self.weight
        if not weight.is_contiguous():  # stored transposed by an earlier choice
            with torch.inference_mode(False):
                weight.data = weight.detach().contiguous()
        fixed = "onednn" if ONEDNN_LINEAR is not None and dtype == torch.float32 else "linear"
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # FSDP owns the storage of the parameters it gathers (and the ranks must agree)
            self._kernel = (dtype, fixed)
            return fixed
        out_features, in_features = weight.shape
        x = torch.randn(1, in_features, generator=torch.Generator().manual_seed(0)).to(dtype)
        # timed on the first rows of a large weight, each run on the next of several copies
        # of them: read from memory, as when decoding (zoo.model.kernels)
        timed = kernels.timed_rows(out_features, in_features * weight.element_size())
        sample = weight.detach()[:timed]
        bias = None if self.bias is None else self.bias.detach()[:timed]
        plain = kernels.rotation(sample, sample.nbytes, torch.clone)
        transposed: list[Callable[[], Tensor]] = []

        def linear_t() -> Tensor:
            if not transposed:
                transposed.append(kernels.rotation(sample.t().contiguous().t(), sample.nbytes,
                                                   lambda t: t.t().clone().t()))
            return F.linear(x, transposed[0](), bias)

        candidates: dict[str, Callable[[], Tensor]] = {
            "linear": lambda: F.linear(x, plain(), bias)}
        if ONEDNN_LINEAR is not None:
            candidates["onednn"] = lambda: ONEDNN_LINEAR(x, plain(), bias, "none", [], "")
        if not self.shared:
            candidates["linear_t"] = linear_t
        own, op_name = NATIVE[dtype]
        if kernels.offered(own):
            op = getattr(native.ops(), op_name)
            candidates[own] = lambda: (op(x, plain()) if bias is None
                                       else op(x, plain()) + bias).to(dtype)
        rows = torch.cat([torch.arange(min(CHECKED, timed)),
                          torch.arange(max(timed - CHECKED, 0), timed)]).unique()
        part = sample[rows].double()
        exact = x.double() @ part.t()
        bound = kernels.tolerance(x.double().abs() @ part.abs().t(), in_features, dtype)
        if bias is not None:
            exact = exact + bias[rows].double()

        def check(y: Tensor) -> bool:
            got = y.double()[..., rows]
            return bool(((got - exact).abs() <= bound + 1e-6 * exact.abs()).all())

        name = kernels.key((out_features, in_features), dtype, "float", 1)
        kernel = kernels.choose(name, candidates, fixed, check)
        if relayout and kernel == "linear_t":  # a normal tensor even under inference_mode:
            with torch.inference_mode(False):  # the parameter may be trained later
                weight.data = hugepages.relayout(weight.detach(), transposed=True)
            hugepages.release()  # the old bytes
        self._kernel = (dtype, kernel)
        return kernel


class Embedding(nn.Embedding):
    def reset_parameters(self) -> None:
        pass


class LayerNorm(nn.LayerNorm):
    def reset_parameters(self) -> None:
        pass


class RMSNorm(nn.Module):
    """x / rms(x) * weight, normalised in fp32 (as LLaMA's reference code and transformers do).

    With `unit_offset` (Gemma) the scale is (1 + weight), applied in fp32 before the cast back,
    as Gemma's own code does; with `fp32_scale` (Helium) the weight itself is applied so;
    otherwise the weight multiplies the cast result, as LLaMA's does.
    """

    fused = False  # zoo's own kernel for fp32 inference on the CPU (Model.lay_out sets it)
    fused_kernel = "zoo_rms_norm"

    def fusable(self) -> bool:
        return True  # every form is one in fp32

    def __init__(self, dim: int, eps: float, unit_offset: bool = False,
                 weight: bool = True, fp32_scale: bool = False) -> None:
        super().__init__()
        self.eps, self.unit_offset, self.dim = eps, unit_offset, dim
        self.fp32_scale = fp32_scale
        # Gemma 4's value and router norms have no weight
        self.weight = nn.Parameter(torch.empty(dim)) if weight else None

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        if self.fused and dtype == torch.float32 and x.device.type == "cpu" and \
                not torch.is_grad_enabled() and \
                (self.weight is None or self.weight.dtype == torch.float32):
            # in fp32 the four forms below are one: x / rms(x) * (weight + offset)
            return native.ops().rms_norm(x, self.weight, self.eps, float(self.unit_offset))
        h = x.float()
        # mean(h^2) as sum / dim: the same numbers as transformers' h.pow(2).mean() and as
        # F.rms_norm, in 7 operations where F.rms_norm runs 15 on a CPU (torch 2.13), each a
        # dispatch (decoding SmolLM2 int4 2% faster on an AMD EPYC: 77.6 to 79.3 tokens/s)
        h = h * torch.rsqrt((h * h).sum(-1, keepdim=True) / self.dim + self.eps)
        if self.weight is None:
            return h.to(dtype)
        if self.unit_offset:
            return (h * (1.0 + self.weight.float())).to(dtype)
        if self.fp32_scale:
            return (self.weight.float() * h).to(dtype)
        return self.weight * h.to(dtype)


    def kernel_choice(self) -> tuple[str | None, tuple[str, ...]]:
        """"zoo_rms_norm" where zoo's kernel runs it (kernels.summary), else None."""
        return ("zoo_rms_norm" if self.fused else None), ()


class HeadLayerNorm(nn.Module):
    """LayerNorm without bias over the last dim of (batch, heads, seq, d_head), with a scale
    for every head and dim, in fp32 (Command R+'s QK-norm)."""

    def __init__(self, heads: int, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(heads, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()
        h = h - h.mean(-1, keepdim=True)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight.float()[:, None, :] * h).to(x.dtype)


class NonparametricLayerNorm(nn.Module):
    """(x - mean) / std with no weight and no bias, computed in fp32 and cast back (OLMo 1's
    norm: nothing to learn, nothing to store)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.shape, self.eps = (dim,), eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.float(), self.shape, None, None, self.eps).to(x.dtype)


def make_norm(spec: ModelSpec, width: int | None = None, eps: float | None = None) -> nn.Module:
    """The spec's norm over `width` features (default d_model), with epsilon `eps` (default
    norm_eps)."""
    width = spec.d_model if width is None else width
    if spec.norm == "rmsnorm":
        return RMSNorm(width, spec.norm_eps if eps is None else eps, spec.norm_unit_offset,
                       fp32_scale=spec.norm_fp32_scale)
    if spec.norm == "weightless_rmsnorm":  # NanoChat
        return RMSNorm(width, spec.norm_eps, weight=False)
    if spec.norm == "nonparametric_layernorm":
        return NonparametricLayerNorm(width, spec.norm_eps)
    return LayerNorm(width, eps=spec.norm_eps, bias=spec.norm_bias)


def check_token_ids(spec: ModelSpec, input_ids: Tensor) -> None:
    """Every id must index the vocabulary: a clear error, not an embedding's index crash."""
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= spec.vocab_size:
        raise ValueError(f"token id {high if high >= spec.vocab_size else low} is outside "
                         f"{spec.name}'s vocabulary of {spec.vocab_size}")


# --- positions ------------------------------------------------------------------------------

def _default(inv_freq: Tensor, scaling: RopeScaling) -> tuple[Tensor, float]:
    return inv_freq, 1.0


def _linear(inv_freq: Tensor, scaling: RopeScaling) -> tuple[Tensor, float]:
    """Every frequency divided by the factor (position interpolation)."""
    return inv_freq / scaling.factor, 1.0


def _llama3(inv_freq: Tensor, s: RopeScaling) -> tuple[Tensor, float]:
    """Llama 3.1: wavelengths longer than original/low_freq_factor are stretched by the factor,
    those shorter than original/high_freq_factor kept, the band between blended smoothly."""
    assert s.original_context and s.low_freq_factor and s.high_freq_factor
    wavelength = 2 * math.pi / inv_freq
    stretched = torch.where(wavelength > s.original_context / s.low_freq_factor,
                            inv_freq / s.factor, inv_freq)
    smooth = ((s.original_context / wavelength - s.low_freq_factor)
              / (s.high_freq_factor - s.low_freq_factor))
    blended = (1 - smooth) * stretched / s.factor + smooth * stretched
    medium = ((wavelength >= s.original_context / s.high_freq_factor)
              & (wavelength <= s.original_context / s.low_freq_factor))
    return torch.where(medium, blended, stretched), 1.0


def _yarn(inv_freq: Tensor, s: RopeScaling, theta: float) -> tuple[Tensor, float]:
    """YaRN (Peng et al. 2023): frequencies that turn fewer than beta_slow times over the
    original context are interpolated (divided by the factor), those turning more than
    beta_fast times kept, a linear ramp between; cos and sin scaled by the attention factor."""
    assert s.original_context
    dim = 2 * inv_freq.shape[0]
    fast, slow = s.beta_fast or 32.0, s.beta_slow or 1.0

    def correction_dim(rotations: float) -> float:
        turns = s.original_context / (rotations * 2 * math.pi)
        return dim * math.log(turns) / (2 * math.log(theta))

    low, high = correction_dim(fast), correction_dim(slow)
    if s.truncate is not False:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low)
            / ((high - low) if high != low else 0.001)).clamp(0, 1)
    keep = 1 - ramp
    scaled = inv_freq / s.factor * (1 - keep) + inv_freq * keep
    factor = s.attention_factor
    if factor is None:
        def mscale(m: float) -> float:
            return 0.1 * m * math.log(s.factor) + 1.0 if s.factor > 1 else 1.0

        factor = mscale(s.mscale) / mscale(s.mscale_all_dim) if s.mscale and \
            s.mscale_all_dim else mscale(1.0)
    return scaled, factor


def _longrope(inv_freq: Tensor, s: RopeScaling, theta: float,
              long: bool) -> tuple[Tensor, float]:
    """LongRoPE (Phi-3 128k, Phi-4-mini): each frequency divided by its own factor, the short
    set while every position is within the original context, the long set beyond it; cos and
    sin scaled by sqrt(1 + ln(factor) / ln(original)) unless an attention factor is given."""
    assert s.original_context and s.short_factor and s.long_factor
    factors = torch.tensor(s.long_factor if long else s.short_factor, dtype=torch.float32)
    factor = s.attention_factor
    if factor is None:
        factor = 1.0 if s.factor <= 1.0 else \
            math.sqrt(1 + math.log(s.factor) / math.log(s.original_context))
    dim = 2 * inv_freq.shape[0]
    wavelengths = theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    return 1.0 / (factors * wavelengths), factor


ROPE_SCALINGS: dict[str | None, Callable[..., tuple[Tensor, float]]] = {
    None: _default, "linear": _linear, "llama3": _llama3, "yarn": _yarn, "longrope": _longrope}


def long_rope(spec: ModelSpec, last_position: int) -> bool:
    """Whether a forward pass whose last token is at `last_position` takes longrope's long
    factors (as transformers decides, per pass: the sequence it sees is longer than the
    original context). Cached keys keep the factors of the pass that computed them; the
    generation loop recomputes them when a sequence first crosses (as transformers' Phi-3
    does)."""
    scaling = spec.rope_scaling
    return scaling is not None and scaling.type == "longrope" \
        and last_position + 1 > (scaling.original_context or 0)


@functools.lru_cache(maxsize=64)
def inverse_frequencies(spec: ModelSpec, key: str, long: bool = False) -> tuple[Tensor, float]:
    """The rotary frequencies (float32, CPU) of a rope `key` ('global', or 'local' when local
    layers have their own unscaled base), and the factor that scales cos and sin; `long`
    picks longrope's long factors."""
    dim = spec.rotary_dim
    theta = spec.local_rope_theta if key == "local" else spec.rope_theta
    if key == "local" and theta is None:  # local layers apart only for their head width
        theta = spec.rope_theta
    assert theta is not None
    if key == "global" and _global_apart(spec):  # Gemma 4's proportional RoPE
        dim = spec.global_head_dim
        fraction = spec.global_rotary_fraction or 1.0
        turning = int(fraction * dim // 2)
        inv_freq = 1.0 / (theta ** (torch.arange(0, 2 * turning, 2, dtype=torch.float32) / dim))
        inv_freq = torch.cat([inv_freq, torch.zeros(dim // 2 - turning)])
        return inv_freq, 1.0
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    scaling = None if key == "local" else spec.rope_scaling
    kind = scaling.type if scaling is not None else None
    extra = (theta,) if kind == "yarn" else (theta, long) if kind == "longrope" else ()
    return ROPE_SCALINGS[kind](inv_freq, scaling, *extra)


def _global_apart(spec: ModelSpec) -> bool:
    """Global layers with their own head width or proportional RoPE (Gemma 4)."""
    return spec.global_d_head is not None or spec.global_rotary_fraction is not None


def rope_key(spec: ModelSpec, layer: int) -> str | None:
    """Which rotary table a layer uses: None (no rotary), 'local' or 'global'."""
    if not spec.layer_rotary[layer]:
        return None
    local = spec.layer_kinds[layer] == "local" and (spec.local_rope_theta is not None
                                                    or _global_apart(spec))
    return "local" if local else "global"


def rotary_tables(spec: ModelSpec, positions: Tensor,
                  dtype: torch.dtype) -> dict[str, tuple[Tensor, Tensor]]:
    """cos and signed sin, (batch, 1, seq, rotary_dim), for token positions (batch, seq), per
    rope key the layers use, laid out as `apply_rotary` pairs the dims: built once per forward
    pass, so that each layer's rotation is four whole-tensor operations."""
    tables = {}
    long = long_rope(spec, int(positions.max())) if positions.numel() else False
    for key in {rope_key(spec, i) for i in range(spec.n_layer)} - {None}:
        inv_freq, factor = inverse_frequencies(spec, key, long)
        angles = positions.float()[:, None, :, None] * inv_freq.to(positions.device)
        cos, sin = angles.cos(), angles.sin()
        if factor != 1.0:
            cos, sin = cos * factor, sin * factor
        if spec.rotary_style == "half":  # dims i and i + r/2: [c, c], [-s, s]
            cos, sin = torch.cat([cos, cos], -1), torch.cat([-sin, sin], -1)
        elif spec.rotary_style == "half_reversed":  # turned the other way: [c, c], [s, -s]
            cos, sin = torch.cat([cos, cos], -1), torch.cat([sin, -sin], -1)
        else:  # dims 2i and 2i + 1: [c0, c0, c1, c1 ...], [-s0, s0, -s1, s1 ...]
            cos = cos.repeat_interleave(2, -1)
            sin = torch.stack([-sin, sin], -1).flatten(-2)
        tables[key] = (cos.to(dtype), sin.to(dtype))
    return tables


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, style: str) -> Tensor:
    """Rotate the first rotary_dim dims of x (batch, heads, seq, d_head); the rest pass through.

    'half' pairs dim i with i + r/2 (GPT-NeoX, LLaMA; 'half_reversed' turns them the other
    way, its sign in the sin table); 'interleaved' pairs 2i with 2i + 1 (GPT-J,
    mesh-transformer-jax). Each pair (a, b) becomes (a cos - b sin, b cos + a sin):
    x * cos + partner * signed sin, with the tables of `rotary_tables`, the same numbers
    bit for bit as the pairwise form.
    """
    r = cos.shape[-1]
    rot = x[..., :r] if x.shape[-1] > r else x
    if style != "interleaved":
        partner = rot.roll(r // 2, -1)  # [b, a]
    else:
        partner = rot.unflatten(-1, (r // 2, 2)).flip(-1).flatten(-2)  # [b0, a0, b1, a1 ...]
    rotated = rot * cos + partner * sin
    return torch.cat((rotated, x[..., r:]), dim=-1) if x.shape[-1] > r else rotated


def _fairseq_sinusoids(positions: Tensor, d: int) -> Tensor:
    """tensor2tensor's table as fairseq and XGLM build it: half = d // 2 frequencies
    exp(-i ln(10000) / (half - 1)), the sines then the cosines, a zero column for an odd d."""
    half = d // 2
    freq = torch.exp(torch.arange(half, dtype=torch.int64).float() * -(math.log(10000)
                                                                      / (half - 1)))
    angles = positions.float()[..., None] * freq.to(positions.device)
    out = torch.cat([angles.sin(), angles.cos()], -1)
    return F.pad(out, (0, 1)) if d % 2 else out


def _vaswani_sinusoids(positions: Tensor, d: int) -> Tensor:
    """The paper's frequencies as CTRL computes them: column i turns at 10000^(-2 (i // 2) / d);
    the sines of the even columns' angles, then the cosines of the odd ones'."""
    i = torch.arange(d, dtype=torch.int64).float().to(positions.device)
    angles = positions.float()[..., None] * (1 / torch.pow(10000, (2 * (i // 2)) / d))
    return torch.cat([angles[..., 0::2].sin(), angles[..., 1::2].cos()], -1)


SINUSOIDS: dict[str, Callable[[Tensor, int], Tensor]] = {
    "fairseq": _fairseq_sinusoids, "vaswani": _vaswani_sinusoids}


def sinusoids(spec: ModelSpec, positions: Tensor, dtype: torch.dtype) -> Tensor:
    """Fixed position embeddings (batch, seq, d_model) for token positions (batch, seq), offset
    by position_offset: computed in fp32 as transformers builds its table, then cast."""
    return SINUSOIDS[spec.sinusoid_style](positions + spec.position_offset,
                                          spec.d_model).to(dtype)


def alibi_slopes(n_head: int) -> Tensor:
    """The ALiBi paper's head slopes: a geometric sequence from 2^(-8/n); for head counts that
    are not powers of two, the odd-indexed slopes of the next power fill the rest (as BLOOM)."""
    def geometric(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    power = 2 ** math.floor(math.log2(n_head))
    slopes = geometric(power)
    if power != n_head:
        slopes += geometric(2 * power)[0::2][: n_head - power]
    return torch.tensor(slopes, dtype=torch.float32)


# --- masks ----------------------------------------------------------------------------------


def _gelu_tanh(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


def _clamped_swiglu(gate: Tensor, up: Tensor, limit: float) -> Tensor:
    """gpt-oss: gate and up clamped, the gate's SiLU with a sharper sigmoid (alpha 1.702), and
    the up projection shifted by one."""
    gate, up = gate.clamp(max=limit), up.clamp(-limit, limit)
    return (up + 1) * (gate * torch.sigmoid(1.702 * gate))


def _relu2(x: Tensor) -> Tensor:
    """Squared ReLU (So et al. 2021, "Primer", arXiv 2109.08668): Arcee, Jais 2, Persimmon."""
    return torch.square(F.relu(x))


# activation -> x -> y (plain MLPs), or (gate, up, spec) -> y (gated MLPs)
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu, "gelu_tanh": _gelu_tanh, "relu": F.relu, "relu2": _relu2, "silu": F.silu}
_GLUS: dict[str, Callable[[Tensor, Tensor, ModelSpec], Tensor]] = {
    "swiglu": lambda gate, up, spec: F.silu(gate) * up,
    "geglu": lambda gate, up, spec: _gelu_tanh(gate) * up,
    "clamped_swiglu": lambda gate, up, spec: _clamped_swiglu(gate, up, spec.swiglu_limit),
}


def activate(spec: ModelSpec, h: Tensor) -> Tensor:
    """The MLP's nonlinearity on its first projection's output ([gate; up] when gated)."""
    if spec.gated:
        gate, up = h.chunk(2, dim=-1)
        return _GLUS[spec.activation](gate, up, spec)
    return _ACTIVATIONS[spec.activation](h)


class XIELU(nn.Module):
    """xIELU (Huang and Schlag 2024, arXiv 2411.13010; Apertus): a x^2 + beta x for x > 0,
    else (expm1(min(x, eps)) - x) b + beta x, where a = softplus(alpha_p) and b = beta +
    softplus(alpha_n) are learned per MLP; beta and eps are stored beside them (transformers'
    buffers, 0.5 and -1e-6 in the model's dtype), as transformers' Python form computes it."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha_p = nn.Parameter(torch.empty(1))
        self.alpha_n = nn.Parameter(torch.empty(1))
        self.register_buffer("beta", torch.empty(()))
        self.register_buffer("eps", torch.empty(()))

    def forward(self, x: Tensor) -> Tensor:
        alpha_p, alpha_n = F.softplus(self.alpha_p), self.beta + F.softplus(self.alpha_n)
        return torch.where(x > 0, alpha_p * x * x + self.beta * x,
                           (torch.expm1(torch.min(x, self.eps)) - x) * alpha_n + self.beta * x)


class MLP(nn.Module):
    """d_model -> width (default d_ff) -> d_model; gated MLPs keep gate and up in one
    [gate; up] matrix; xIELU's learned scalars are the MLP's own (`act`)."""

    def __init__(self, spec: ModelSpec, width: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        width = spec.d_ff if width is None else width
        self.fc_in = Linear(spec.d_model, 2 * width if spec.gated else width,
                            bias=spec.has_bias("mlp"))
        self.fc_out = Linear(width, spec.d_model, bias=spec.has_bias("mlp"))
        self.act = XIELU() if spec.activation == "xielu" else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc_in(x)
        return self.fc_out(activate(self.spec, h) if self.act is None else self.act(h))


class Experts(nn.Module):
    """Every routed expert's MLP, stacked: fc_in (experts, [gate; up] or hidden, d_model) and
    fc_out (experts, d_model, hidden), with biases where the spec has MLP biases."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        assert spec.n_experts is not None
        self.spec, e, d, f = spec, spec.n_experts, spec.d_model, spec.expert_width
        width = 2 * f if spec.gated else f
        self.fc_in = nn.Parameter(torch.empty(e, width, d))
        self.fc_out = nn.Parameter(torch.empty(e, d, f))
        bias = spec.has_bias("mlp")
        self.fc_in_bias = nn.Parameter(torch.empty(e, width)) if bias else None
        self.fc_out_bias = nn.Parameter(torch.empty(e, d)) if bias else None

    def one(self, expert: int, x: Tensor) -> Tensor:
        """Expert `expert` on rows x (tokens, d_model)."""
        def bias(b: Tensor | None) -> Tensor | None:
            return None if b is None else b[expert]

        h = F.linear(x, self.fc_in[expert], bias(self.fc_in_bias))
        return F.linear(activate(self.spec, h), self.fc_out[expert], bias(self.fc_out_bias))


def sparsemixer(logits: Tensor, jitter: float) -> tuple[Tensor, Tensor]:
    """PhiMoE's routing at inference, from the router's logits (tokens, experts): the best
    expert, weighted by a softmax over the experts whose logit trails its own by at most
    2 x jitter relative to max(|logit|, its own); then the best of the others, weighted so over
    the others. The chosen experts (tokens, 2) and their weights."""
    index, weights, scores = [], [], logits
    for _ in range(2):
        top, best = scores.max(-1, keepdim=True)
        far = (top - logits) / logits.abs().clamp(min=top) > 2 * jitter
        weights.append(scores.masked_fill(far, float("-inf")).softmax(-1).gather(-1, best))
        index.append(best)
        scores = scores.scatter(-1, best, float("-inf"))  # the next pick among the others
    return torch.cat(index, -1), torch.cat(weights, -1)


class MoE(nn.Module):
    """A mixture of experts: the router picks experts_per_token experts for each token, which
    only they compute; their outputs, weighted, are summed (with the shared experts', which
    every token goes through).

    Routing, as the published models define it: softmax or sigmoid scores over all experts; an
    optional selection-only bias (DeepSeek-V3's e_score_correction_bias, a buffer); optional
    group-limited choice (groups scored by their two best experts, or by their best one, only
    the best groups eligible); the chosen scores renormalised when asked, then scaled. Scores
    are computed in fp32, as transformers does.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        assert spec.n_experts is not None and spec.experts_per_token is not None
        self.spec = spec
        self.router = Linear(spec.d_model, spec.n_experts, bias=spec.router_bias)
        self.experts = Experts(spec)
        self.shared = MLP(spec, spec.shared_width) if spec.shared_width else None
        self.shared_gate = (Linear(spec.d_model, 1, bias=False) if spec.shared_expert_gate
                            else None)
        if spec.routing_bias_parameter:  # ERNIE 4.5: a parameter that training leaves alone
            self.routing_bias = nn.Parameter(torch.empty(spec.n_experts), requires_grad=False)
        elif spec.routing_bias:
            self.register_buffer("routing_bias", torch.empty(spec.n_experts))
        if spec.router_scales:  # Gemma 4
            self.router_norm = RMSNorm(spec.d_model, spec.norm_eps, weight=False)
            self.router_scale = nn.Parameter(torch.empty(spec.d_model))
            self.expert_scale = nn.Parameter(torch.empty(spec.n_experts))

    def route(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per token (rows of x): the chosen experts (tokens, k) and their weights."""
        spec = self.spec
        if spec.router_jitter is not None:  # PhiMoE: in the input's dtype, as transformers
            return sparsemixer(self.router(x), spec.router_jitter)
        if spec.router_scales:  # normalised, scaled by a learned vector / sqrt(d_model)
            x = self.router_norm(x) * self.router_scale * spec.d_model ** -0.5
        logits = F.linear(x.float(), self.router.weight.float(),
                          None if self.router.bias is None else self.router.bias.float())
        scores = logits.softmax(-1) if spec.router_scoring == "softmax" else logits.sigmoid()
        choice = scores + self.routing_bias if spec.routing_bias else scores
        if spec.expert_groups is not None:
            grouped = choice.view(len(x), spec.expert_groups, -1)
            best = (grouped.amax(-1) if spec.expert_group_score == "max"
                    else grouped.topk(2, dim=-1).values.sum(-1))
            keep = torch.zeros_like(best, dtype=torch.bool).scatter_(
                1, best.topk(spec.expert_groups_per_token, dim=-1).indices, True)
            choice = grouped.masked_fill(~keep[..., None], float("-inf")).view(len(x), -1)
        index = choice.topk(spec.experts_per_token, dim=-1).indices
        weights = scores.gather(1, index)
        if spec.router_normalize:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        if spec.router_scales:
            weights = weights * self.expert_scale[index].float()
        return index, weights * spec.routed_scaling

    def forward(self, x: Tensor, route_from: Tensor | None = None) -> Tensor:
        """The experts on x; the router sees `route_from` where given (Gemma 4 routes on the
        residual stream, its experts take it normalised)."""
        flat = x.reshape(-1, x.shape[-1])
        index, weights = self.route(flat if route_from is None
                                    else route_from.reshape(-1, x.shape[-1]))
        out = torch.zeros_like(flat)
        scale_input = self.spec.router_scales_input
        for expert in index.unique().tolist():  # only the experts some token was sent to
            rows, slot = (index == expert).nonzero(as_tuple=True)
            weight = weights[rows, slot, None]
            if scale_input:  # Llama 4: the weight scales what the expert sees
                y = self.experts.one(expert, (flat[rows] * weight).to(flat.dtype))
            else:
                y = self.experts.one(expert, flat[rows]) * weight
            out.index_add_(0, rows, y.to(out.dtype))
        if self.shared is not None:
            shared = self.shared(flat)
            if self.shared_gate is not None:
                shared = torch.sigmoid(self.shared_gate(flat)) * shared
            out = out + shared
            if self.spec.shared_expert_average:  # Cohere 2 MoE: (routed + shared) / 2
                out = out / 2
        return out.view_as(x)
