"""The parts of a decoder block, each one module with the spec's switches.

One attention (multi-head, grouped- and multi-query, rotary or ALiBi, global or windowed), one
MLP (plain or gated), one norm factory. Positions and masks are computed once per forward by
`Model` and handed to every block, so a block only does arithmetic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.spec import ModelSpec, RopeScaling

if TYPE_CHECKING:
    from zoo.model.cache import KVCache


def _onednn_linear() -> Any:
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


# oneDNN's fp32 matrix-vector kernels use every core, where the default BLAS path for a few
# rows runs on one: about 1.8x the decoding speed on CPU (see tools/bench_generate.py). It has
# no autograd, so it serves inference only; everything else takes F.linear.
ONEDNN_LINEAR = _onednn_linear()


class Linear(nn.Linear):
    # Weights are set once, by Model.init_weights, after the module (built on the meta device)
    # is allocated: the stock reset_parameters would only burn time on meta tensors.
    def reset_parameters(self) -> None:
        pass

    def forward(self, x: Tensor) -> Tensor:
        if (ONEDNN_LINEAR is not None and x.dtype == torch.float32 and x.device.type == "cpu"
                and self.weight.dtype == torch.float32 and not torch.is_grad_enabled()):
            return ONEDNN_LINEAR(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


class Embedding(nn.Embedding):
    def reset_parameters(self) -> None:
        pass


class LayerNorm(nn.LayerNorm):
    def reset_parameters(self) -> None:
        pass


class RMSNorm(nn.Module):
    """x / rms(x) * weight, normalised in fp32 (as LLaMA's reference code and transformers do).

    With `unit_offset` (Gemma) the scale is (1 + weight), applied in fp32 before the cast back,
    as Gemma's own code does; otherwise the weight multiplies the cast result, as LLaMA's does.
    """

    def __init__(self, dim: int, eps: float, unit_offset: bool = False,
                 weight: bool = True) -> None:
        super().__init__()
        self.eps, self.unit_offset, self.dim = eps, unit_offset, dim
        # Gemma 4's value and router norms have no weight
        self.weight = nn.Parameter(torch.empty(dim)) if weight else None

    def forward(self, x: Tensor) -> Tensor:
        if self.weight is None:
            return F.rms_norm(x.float(), (self.dim,), None, self.eps).to(x.dtype)
        if x.dtype == self.weight.dtype == torch.float32 and not self.unit_offset:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)  # the same, fused
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.unit_offset:
            return (x * (1.0 + self.weight.float())).to(dtype)
        return self.weight * x.to(dtype)


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


def make_norm(spec: ModelSpec, width: int | None = None) -> nn.Module:
    """The spec's norm over `width` features (default d_model)."""
    width = spec.d_model if width is None else width
    if spec.norm == "rmsnorm":
        return RMSNorm(width, spec.norm_eps, spec.norm_unit_offset)
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
        else:  # dims 2i and 2i + 1: [c0, c0, c1, c1 ...], [-s0, s0, -s1, s1 ...]
            cos = cos.repeat_interleave(2, -1)
            sin = torch.stack([-sin, sin], -1).flatten(-2)
        tables[key] = (cos.to(dtype), sin.to(dtype))
    return tables


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, style: str) -> Tensor:
    """Rotate the first rotary_dim dims of x (batch, heads, seq, d_head); the rest pass through.

    'half' pairs dim i with i + r/2 (GPT-NeoX, LLaMA); 'interleaved' pairs 2i with 2i + 1
    (GPT-J, mesh-transformer-jax). Each pair (a, b) becomes (a cos - b sin, b cos + a sin):
    x * cos + partner * signed sin, with the tables of `rotary_tables`, the same numbers
    bit for bit as the pairwise form.
    """
    r = cos.shape[-1]
    rot = x[..., :r] if x.shape[-1] > r else x
    if style == "half":
        partner = rot.roll(r // 2, -1)  # [b, a]
    else:
        partner = rot.unflatten(-1, (r // 2, 2)).flip(-1).flatten(-2)  # [b0, a0, b1, a1 ...]
    rotated = rot * cos + partner * sin
    return torch.cat((rotated, x[..., r:]), dim=-1) if x.shape[-1] > r else rotated


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

@dataclass
class AttentionInputs:
    """What every block's attention needs besides its input, computed once per forward.

    `masks[kind]` is None (no mask: a single decoding step, or plain causal when `causal`),
    a boolean (batch|1, 1, q, k) mask, or an additive float (batch, heads, q, k) bias (ALiBi).
    """

    masks: dict[str, Tensor | None]
    causal: bool
    rotary: dict[str, tuple[Tensor, Tensor]]  # cos and sin per rope key (see `rope_key`)
    # Llama 4's temperature tuning: (batch, 1, seq, 1) query scales of the layers without
    # rotary, or None
    temperature: Tensor | None = None
    valid: Tensor | None = None  # (batch, seq): which new tokens are real (linear layers)
    # per attention kind, the keys and values (all positions) of the last layer that made
    # them, for the layers that share them (Gemma 4's kv_shared_layers)
    shared: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    # Gemma 4's per-layer inputs, (batch, seq, n_layer, per_layer_embed_dim)
    per_layer: Tensor | None = None


def query_temperature(spec: ModelSpec, positions: Tensor) -> Tensor | None:
    """Llama 4's attention temperature tuning, per query: 1 + scale x log(1 + floor((p + 1) /
    floor)) at token position p, in fp32 (as Meta's code and transformers compute it): longer
    contexts sharpen the scores of the layers without positions (Nakanishi 2025, "Scalable-
    Softmax Is Superior for Attention", arXiv 2501.19399)."""
    if spec.temperature_floor is None or spec.temperature_scale is None:
        return None
    steps = torch.floor((positions.float() + 1.0) / spec.temperature_floor)
    return (torch.log1p(steps) * spec.temperature_scale + 1.0)[:, None, :, None]


def attention_inputs(spec: ModelSpec, *, positions: Tensor, past: int, seq: int,
                     key_valid: Tensor | None, key_positions: Tensor | None,
                     dtype: torch.dtype) -> AttentionInputs:
    """Masks per attention kind for queries at cache slots [past, past+seq).

    Causality and windows work on cache slots, which differ from token positions only by the
    left padding, itself masked: a query sees key j when j <= i, i - j < window (local layers)
    and j is not padding. Chunks are counted in token positions, so a left-padded row's first
    chunk starts at its first real token: a chunked layer's query sees only keys whose position
    // chunk is its own. Every query also sees itself, so a padding row never attends to
    nothing (its output is ignored, but it must not be NaN).
    """
    device = positions.device
    total = past + seq
    rotary = rotary_tables(spec, positions, dtype) if spec.rotary else {}
    alibi = spec.position == "alibi"
    padded = key_valid is not None and not bool(key_valid.all())
    masks: dict[str, Tensor | None] = {}
    for kind in set(spec.layer_kinds) - {"linear"}:  # linear layers take no mask
        window = spec.local_window if kind == "local" else None
        chunk = spec.attention_chunk if kind == "chunked" else None
        binds = ((window is not None and total > window)
                 or (chunk is not None and total > chunk))
        if not (alibi or padded or binds or (seq > 1 and past > 0)):
            masks[kind] = None  # SDPA's own causal flag (seq > 1) or nothing at all (seq == 1)
            continue
        q = torch.arange(past, total, device=device)[:, None]
        k = torch.arange(total, device=device)[None, :]
        allowed = k <= q
        if window is not None:
            allowed = allowed & (q - k < window)
        allowed = allowed[None, None]
        if chunk is not None:
            assert key_positions is not None
            same = (positions[:, :, None] // chunk) == (key_positions[:, None, :] // chunk)
            allowed = allowed & same[:, None]
        if padded:
            allowed = (allowed & key_valid[:, None, None, :].bool()) | (q == k)[None, None]
        if alibi:
            assert key_positions is not None
            distance = (positions[:, None, :, None] - key_positions[:, None, None, :]).float()
            bias = -alibi_slopes(spec.n_head).to(device)[None, :, None, None] * distance
            masks[kind] = bias.masked_fill(~allowed, float("-inf")).to(dtype)
        else:
            masks[kind] = allowed
    valid = key_valid[:, past:] if padded and key_valid is not None else None
    return AttentionInputs(masks=masks, causal=seq > 1 and past == 0, rotary=rotary,
                           temperature=query_temperature(spec, positions), valid=valid)


# --- attention and MLP ----------------------------------------------------------------------

class Attention(nn.Module):
    """Causal self-attention with fused q/k/v; `kind` selects the layer's mask (global/local).

    Optional parts follow the spec: q, k and v clipped (OLMo 1), QK-norm (per head, or over the
    whole projection) before the rotary, or Llama 4's weight-free one after it, the layer's
    rotary table (none, global or local), Llama 4's query temperature on layers without rotary,
    a score scale other than 1/sqrt(d_head), and soft-capped scores, which SDPA cannot do and so
    take the explicit path.
    """

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec, self.layer, self.dropout = spec, layer, dropout
        self.kind = spec.layer_kinds[layer]
        self.rope = rope_key(spec, layer)
        self.n_head, self.kv_heads, self.head_dim = spec.n_head, spec.kv_heads, spec.head_dim
        # with an output gate (Qwen3-Next), the query rows hold each head's query, then its gate
        self.gated = spec.attention_output_gate
        q_rows = spec.q_dim * (2 if self.gated else 1)
        self.qkv = Linear(spec.d_model, q_rows + 2 * spec.kv_dim, bias=spec.has_bias("qkv"))
        self.out = Linear(spec.q_dim, spec.d_model, bias=spec.has_bias("attn_out"))
        self.q_norm = self.k_norm = None
        # Llama 4: each q and k head RMS-normalised without a weight, on rotary layers only
        self.l2_norm = spec.qk_norm == "l2" and self.rope is not None
        # Llama 4: queries of the layers without rotary scaled by the temperature tuning
        self.tuned = spec.temperature_tuning and self.rope is None
        if spec.qk_norm == "each_head":
            self.q_norm = HeadLayerNorm(spec.n_head, spec.head_dim, spec.norm_eps)
            self.k_norm = HeadLayerNorm(spec.kv_heads, spec.head_dim, spec.norm_eps)
        elif spec.qk_norm in ("head", "projection"):
            per_head = spec.qk_norm == "head"
            self.q_norm = make_norm(spec, spec.head_dim if per_head else spec.q_dim)
            self.k_norm = make_norm(spec, spec.head_dim if per_head else spec.kv_dim)
        if not spec.scale_attention:
            self.scale: float | None = 1.0
        elif spec.attention_multiplier is not None:
            self.scale = spec.attention_multiplier
        elif spec.query_pre_attn_scalar is not None:
            self.scale = spec.query_pre_attn_scalar ** -0.5
        else:
            self.scale = None  # SDPA's own 1/sqrt(d_head)
        self.softcap = spec.attn_softcap
        self.sinks = nn.Parameter(torch.empty(spec.n_head)) if spec.attention_sinks else None

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape
        heads, kv_heads = self.n_head, self.kv_heads
        qkv = self.qkv(x)
        gate = None
        if self.gated:
            q_and_gate, kv = qkv.split([2 * self.spec.q_dim, 2 * self.spec.kv_dim], -1)
            q_and_gate = q_and_gate.view(batch, seq, heads, 2, self.head_dim)
            gate = q_and_gate[..., 1, :].reshape(batch, seq, self.spec.q_dim)
            qkv = torch.cat([q_and_gate[..., 0, :].reshape(batch, seq, self.spec.q_dim), kv], -1)
        if self.q_norm is not None and self.spec.qk_norm == "projection":
            q, k, v = qkv.split([self.spec.q_dim, self.spec.kv_dim, self.spec.kv_dim], -1)
            qkv = torch.cat([self.q_norm(q), self.k_norm(k), v], -1)
        if self.spec.qkv_clip is not None:  # OLMo 1 (and OLMoE, after its norm over q and k)
            qkv = qkv.clamp(-self.spec.qkv_clip, self.spec.qkv_clip)
        # every head side by side, q then k then v: q and k are rotated as one tensor
        qk, v = qkv.view(batch, seq, -1, self.head_dim).transpose(1, 2).split(
            [heads + kv_heads, kv_heads], 1)
        if self.q_norm is not None and self.spec.qk_norm in ("head", "each_head"):
            qk = torch.cat([self.q_norm(qk[:, :heads]), self.k_norm(qk[:, heads:])], 1)
        if self.rope is not None:
            cos, sin = inputs.rotary[self.rope]
            qk = apply_rotary(qk, cos, sin, self.spec.rotary_style)
        if self.l2_norm:  # after the rotary, as Llama 4 does (a rotation keeps the norm)
            qk = F.rms_norm(qk.float(), (self.head_dim,), eps=self.spec.norm_eps).to(qk.dtype)
        q, k = qk.split([heads, kv_heads], 1)
        if self.tuned and inputs.temperature is not None:
            q = (q * inputs.temperature).to(q.dtype)
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        y = attend(q, k, v, inputs.masks[self.kind], inputs.causal, self.scale,
                   self.dropout if self.training else 0.0, self.softcap, self.sinks)
        y = y.transpose(1, 2).reshape(batch, seq, self.spec.v_dim)
        return self.out(y * torch.sigmoid(gate) if gate is not None else y)


def layer_attention(spec: ModelSpec) -> bool:
    """Whether a spec takes `LayerAttention` (Gemma 4's switches) rather than `Attention`."""
    return (spec.value_norm or spec.global_d_head is not None or spec.global_kv_heads is not None
            or spec.global_values_from_keys or spec.kv_shared_layers > 0)


class LayerAttention(nn.Module):
    """Gemma 4's attention: q, k and v apart, each layer of its kind's geometry (the global
    layers' head width and kv heads), an RMSNorm over each q and k head and a weightless one
    over each value head; global layers may take their values from the key projection (before
    its norm and rotary); the last kv_shared_layers layers have only q and out, and attend to
    the keys and values of the last earlier layer of their kind."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec, self.layer, self.dropout = spec, layer, dropout
        self.kind = spec.layer_kinds[layer]
        self.rope = rope_key(spec, layer)
        self.head_dim = spec.layer_head_dim(self.kind)
        self.kv_heads = spec.layer_kv_heads(self.kind)
        self.shares = spec.layer_kv_shared[layer]
        kinds, first = spec.layer_kinds, spec.n_layer - spec.kv_shared_layers
        # the last layer of this kind before the sharing ones keeps its keys for them
        self.keeps = (not self.shares and spec.kv_shared_layers > 0
                      and layer == max(i for i in range(first) if kinds[i] == self.kind))
        d, q_dim, kv_dim = spec.d_model, spec.n_head * self.head_dim, self.kv_heads * self.head_dim
        bias = spec.has_bias("qkv")
        self.q = Linear(d, q_dim, bias=bias)
        self.k = None if self.shares else Linear(d, kv_dim, bias=bias)
        self.v = (None if self.shares or (self.kind == "global" and spec.global_values_from_keys)
                  else Linear(d, kv_dim, bias=bias))
        self.out = Linear(q_dim, d, bias=spec.has_bias("attn_out"))
        self.q_norm = make_norm(spec, self.head_dim) if spec.qk_norm == "head" else None
        self.k_norm = (make_norm(spec, self.head_dim)
                       if spec.qk_norm == "head" and not self.shares else None)
        self.v_norm = RMSNorm(self.head_dim, spec.norm_eps, weight=False) \
            if spec.value_norm else None
        self.scale = (spec.query_pre_attn_scalar ** -0.5 if spec.query_pre_attn_scalar
                      is not None else None)
        self.softcap = spec.attn_softcap

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape

        def heads(t: Tensor) -> Tensor:
            return t.view(batch, seq, -1, self.head_dim).transpose(1, 2)

        q = heads(self.q(x))
        if self.q_norm is not None:
            q = self.q_norm(q)
        cos_sin = inputs.rotary.get(self.rope) if self.rope is not None else None
        if cos_sin is not None:
            q = apply_rotary(q, *cos_sin, self.spec.rotary_style)
        if self.shares:
            k, v = inputs.shared[self.kind]
        else:
            assert self.k is not None
            k = heads(self.k(x))
            v = heads(self.v(x)) if self.v is not None else k
            if self.k_norm is not None:
                k = self.k_norm(k)
            if cos_sin is not None:
                k = apply_rotary(k, *cos_sin, self.spec.rotary_style)
            if self.v_norm is not None:
                v = self.v_norm(v)
            if cache is not None:
                k, v = cache.append(self.layer, k, v)
            if self.keeps:
                inputs.shared[self.kind] = (k, v)
        y = attend(q, k, v, inputs.masks[self.kind], inputs.causal, self.scale,
                   self.dropout if self.training else 0.0, self.softcap)
        return self.out(y.transpose(1, 2).reshape(batch, seq, -1))


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
           scale: float | None, dropout: float = 0.0, softcap: float | None = None,
           sinks: Tensor | None = None) -> Tensor:
    """softmax(q k^T * scale + mask) v for q (batch, heads, q, d), k and v (batch, kv heads, k,
    d): SDPA, unless the scores are soft-capped (cap * tanh(s / cap), Gemma 2) or a learned sink
    logit per head joins each softmax's denominator (gpt-oss), which SDPA cannot do and are
    written out. The mask is as SDPA takes it."""
    if softcap is None and sinks is None:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None and causal, dropout_p=dropout,
            scale=scale, enable_gqa=k.shape[1] != q.shape[1])
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    if mask is None and causal:
        queries, keys = q.shape[2], k.shape[2]
        mask = torch.ones(queries, keys, dtype=torch.bool, device=q.device).tril(keys - queries)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else scores + mask
    scores = scores.float()
    if sinks is not None:
        sink = sinks.float().view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
        weights = torch.cat([scores, sink], -1).softmax(-1)[..., :-1]
    else:
        weights = scores.softmax(-1)
    weights = weights.to(q.dtype)
    if dropout:
        weights = F.dropout(weights, dropout)
    return weights @ v


def _half_tables(cos: Tensor, sin: Tensor, style: str) -> tuple[Tensor, Tensor]:
    """Rotary tables laid out for `half` pairs, from tables laid out for `style`."""
    if style == "half":
        return cos, sin
    return torch.cat([cos[..., 0::2], cos[..., 0::2]], -1), \
        torch.cat([sin[..., 0::2], sin[..., 1::2]], -1)


class Indexer(nn.Module):
    """DeepSeek-V3.2's sparse-attention indexer: for each query, every key scored by its own
    small heads (ReLU of scaled dot products, weighted per head by a projection of the input),
    the indexer_topk best kept. Its q comes from the query latent, its one key per token (a
    LayerNorm'd projection, cached beside the latent) is shared by its heads; both rotate
    their first d_head_rope dims in halves. Scores in fp32, as transformers computes them."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        assert spec.indexer_heads and spec.indexer_head_dim and spec.q_lora_rank
        self.heads, self.width = spec.indexer_heads, spec.indexer_head_dim
        self.topk = spec.indexer_topk or 1
        self.wq_b = Linear(spec.q_lora_rank, self.heads * self.width, bias=False)
        self.wk = Linear(spec.d_model, self.width, bias=False)
        self.k_norm = LayerNorm(self.width, eps=1e-6)
        self.weights_proj = Linear(spec.d_model, self.heads, bias=False)

    def keys(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """This step's indexer keys (batch, 1, seq, width), rotated."""
        return apply_rotary(self.k_norm(self.wk(x))[:, None], cos, sin, "half")

    def keep(self, x: Tensor, q_latent: Tensor, keys: Tensor, cos: Tensor, sin: Tensor,
             allowed: Tensor) -> Tensor:
        """Which keys (batch, 1, seq, keys) each query attends to: its indexer_topk best among
        those `allowed` (batch|1, seq, keys)."""
        batch, seq, _ = x.shape
        q = self.wq_b(q_latent).view(batch, seq, self.heads, self.width)
        q = apply_rotary(q.transpose(1, 2), cos, sin, "half").transpose(1, 2)
        scores = torch.matmul(q.float(), keys[:, 0].float().transpose(-1, -2).unsqueeze(1))
        scores = F.relu(scores * self.width ** -0.5)  # (batch, seq, heads, keys)
        weights = self.weights_proj(x).float() * self.heads ** -0.5
        index = torch.matmul(weights.unsqueeze(-2), scores).squeeze(-2)
        index = index.masked_fill(~allowed, float("-inf"))
        top = index.topk(min(self.topk, index.shape[-1]), dim=-1).indices
        chosen = torch.zeros_like(index, dtype=torch.bool).scatter_(-1, top, True)
        return (chosen & allowed)[:, None]


def _allowed(mask: Tensor | None, causal: bool, seq: int, keys: int,
             device: torch.device) -> Tensor:
    """The keys each query may see (batch|1, seq, keys), from an attention kind's mask."""
    if mask is not None:
        return mask[:, 0].bool()
    if causal:
        return torch.ones(seq, keys, dtype=torch.bool, device=device).tril(keys - seq)[None]
    return torch.ones(1, seq, keys, dtype=torch.bool, device=device)


class LatentAttention(nn.Module):
    """DeepSeek's multi-head latent attention. Keys and values come from a latent of
    kv_lora_rank per token (normalised), expanded per head by kv_up; the rotated part of every
    key is one d_head_rope vector shared by all heads. The cache holds the latent and that key,
    not the expanded heads. Queries may go through a latent of their own (q_lora_rank). With
    YaRN's mscale_all_dim the score scale is multiplied by mscale squared, as DeepSeek's code.
    With sparse attention (DeepSeek-V3.2) an indexer picks the keys each query attends to; its
    keys are cached beside the rotated key."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert spec.kv_lora_rank is not None and spec.d_head_rope is not None
        self.spec, self.layer, self.dropout = spec, layer, dropout
        self.kind, self.rope = spec.layer_kinds[layer], rope_key(spec, layer)
        d, heads, rank = spec.d_model, spec.n_head, spec.kv_lora_rank
        self.rope_dim, self.nope_dim = spec.d_head_rope, spec.head_dim - spec.d_head_rope
        self.v_head = spec.v_dim // heads
        if spec.q_lora_rank:
            self.q_down = Linear(d, spec.q_lora_rank, bias=False)
            self.q_down_norm = make_norm(spec, spec.q_lora_rank)
            self.q_up = Linear(spec.q_lora_rank, spec.q_dim, bias=False)
        else:
            self.q = Linear(d, spec.q_dim, bias=False)
        self.kv_down = Linear(d, rank + self.rope_dim, bias=False)
        self.kv_down_norm = make_norm(spec, rank)
        self.kv_up = Linear(rank, heads * (self.nope_dim + self.v_head), bias=False)
        self.out = Linear(spec.v_dim, d, bias=False)
        self.indexer = Indexer(spec) if spec.sparse_attention else None
        self.scale = spec.head_dim ** -0.5
        scaling = spec.rope_scaling
        if scaling is not None and scaling.type == "yarn" and scaling.mscale_all_dim:
            self.scale *= (0.1 * scaling.mscale_all_dim * math.log(scaling.factor) + 1) ** 2

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape
        heads = self.spec.n_head
        q_latent = self.q_down_norm(self.q_down(x)) if self.spec.q_lora_rank else x
        q = self.q_up(q_latent) if self.spec.q_lora_rank else self.q(x)
        q = q.view(batch, seq, heads, self.spec.head_dim).transpose(1, 2)
        q_nope, q_rot = q.split([self.nope_dim, self.rope_dim], -1)
        latent, k_rot = self.kv_down(x).split([self.spec.kv_lora_rank, self.rope_dim], -1)
        latent, k_rot = self.kv_down_norm(latent)[:, None], k_rot[:, None]  # (batch, 1, seq, .)
        if self.rope is not None:
            cos, sin = inputs.rotary[self.rope]
            q_rot = apply_rotary(q_rot, cos, sin, self.spec.rotary_style)
            k_rot = apply_rotary(k_rot, cos, sin, self.spec.rotary_style)
        if self.indexer is not None:  # its keys travel with the rotated key, in one cache slot
            assert self.rope is not None, "the indexer rotates with the layer's tables"
            half = _half_tables(cos, sin, self.spec.rotary_style)
            k_rot = torch.cat([k_rot, self.indexer.keys(x, *half)], -1)
        if cache is not None:
            latent, k_rot = cache.append(self.layer, latent, k_rot)
        k_rot, index_keys = k_rot.split([self.rope_dim, k_rot.shape[-1] - self.rope_dim], -1)
        keys = latent.shape[2]
        kv = self.kv_up(latent[:, 0]).view(batch, keys, heads, -1).transpose(1, 2)
        k_nope, v = kv.split([self.nope_dim, self.v_head], -1)
        k = torch.cat([k_nope, k_rot.expand(batch, heads, keys, self.rope_dim)], -1)
        mask = inputs.masks[self.kind]
        if self.indexer is not None:
            allowed = _allowed(mask, inputs.causal, seq, keys, x.device)
            mask = self.indexer.keep(x, q_latent, index_keys, *half, allowed)
        y = attend(torch.cat([q_nope, q_rot], -1), k, v, mask, inputs.causal,
                   self.scale, self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, seq, self.spec.v_dim))


def _gelu_tanh(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


def _clamped_swiglu(gate: Tensor, up: Tensor, limit: float) -> Tensor:
    """gpt-oss: gate and up clamped, the gate's SiLU with a sharper sigmoid (alpha 1.702), and
    the up projection shifted by one."""
    gate, up = gate.clamp(max=limit), up.clamp(-limit, limit)
    return (up + 1) * (gate * torch.sigmoid(1.702 * gate))


# activation -> x -> y (plain MLPs), or (gate, up, spec) -> y (gated MLPs)
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu, "gelu_tanh": _gelu_tanh, "relu": F.relu, "silu": F.silu}
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


class MLP(nn.Module):
    """d_model -> width (default d_ff) -> d_model; gated MLPs keep gate and up in one
    [gate; up] matrix."""

    def __init__(self, spec: ModelSpec, width: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        width = spec.d_ff if width is None else width
        self.fc_in = Linear(spec.d_model, 2 * width if spec.gated else width,
                            bias=spec.has_bias("mlp"))
        self.fc_out = Linear(width, spec.d_model, bias=spec.has_bias("mlp"))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_out(activate(self.spec, self.fc_in(x)))


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
        return out.view_as(x)
