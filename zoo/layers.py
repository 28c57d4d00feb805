"""The parts of a decoder block, each one module with the spec's switches.

One attention (multi-head, grouped- and multi-query, rotary or ALiBi, global or windowed), one
MLP (plain or gated), one norm factory. Positions and masks are computed once per forward by
`Model` and handed to every block, so a block only does arithmetic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.spec import ModelSpec, RopeScaling

if TYPE_CHECKING:
    from zoo.cache import KVCache


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

    def __init__(self, dim: int, eps: float, unit_offset: bool = False) -> None:
        super().__init__()
        self.eps, self.unit_offset = eps, unit_offset
        self.weight = nn.Parameter(torch.empty(dim))

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.unit_offset:
            return (x * (1.0 + self.weight.float())).to(dtype)
        return self.weight * x.to(dtype)


def make_norm(spec: ModelSpec, width: int | None = None) -> nn.Module:
    """The spec's norm over `width` features (default d_model)."""
    width = spec.d_model if width is None else width
    if spec.norm == "rmsnorm":
        return RMSNorm(width, spec.norm_eps, spec.norm_unit_offset)
    return LayerNorm(width, eps=spec.norm_eps)


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


ROPE_SCALINGS: dict[str | None, Callable[..., tuple[Tensor, float]]] = {
    None: _default, "linear": _linear, "llama3": _llama3, "yarn": _yarn}


@functools.lru_cache(maxsize=64)
def inverse_frequencies(spec: ModelSpec, key: str) -> tuple[Tensor, float]:
    """The rotary frequencies (float32, CPU) of a rope `key` ('global', or 'local' when local
    layers have their own unscaled base), and the factor that scales cos and sin."""
    dim = spec.rotary_dim
    theta = spec.local_rope_theta if key == "local" else spec.rope_theta
    assert theta is not None
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    scaling = None if key == "local" else spec.rope_scaling
    kind = scaling.type if scaling is not None else None
    extra = (theta,) if kind == "yarn" else ()
    return ROPE_SCALINGS[kind](inv_freq, scaling, *extra)


def rope_key(spec: ModelSpec, layer: int) -> str | None:
    """Which rotary table a layer uses: None (no rotary), 'local' or 'global'."""
    if not spec.layer_rotary[layer]:
        return None
    local = spec.layer_kinds[layer] == "local" and spec.local_rope_theta is not None
    return "local" if local else "global"


def rotary_tables(spec: ModelSpec, positions: Tensor,
                  dtype: torch.dtype) -> dict[str, tuple[Tensor, Tensor]]:
    """cos and sin, (batch, 1, seq, rotary_dim // 2), for token positions (batch, seq), per
    rope key the layers use."""
    tables = {}
    for key in {rope_key(spec, i) for i in range(spec.n_layer)} - {None}:
        inv_freq, factor = inverse_frequencies(spec, key)
        angles = positions.float()[:, None, :, None] * inv_freq.to(positions.device)
        cos, sin = angles.cos(), angles.sin()
        if factor != 1.0:
            cos, sin = cos * factor, sin * factor
        tables[key] = (cos.to(dtype), sin.to(dtype))
    return tables


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor, style: str) -> Tensor:
    """Rotate the first rotary_dim dims of x (batch, heads, seq, d_head); the rest pass through.

    'half' pairs dim i with i + r/2 (GPT-NeoX, LLaMA); 'interleaved' pairs 2i with 2i + 1
    (GPT-J, mesh-transformer-jax).
    """
    r = cos.shape[-1] * 2
    rot, rest = x[..., :r], x[..., r:]
    if style == "half":
        a, b = rot[..., : r // 2], rot[..., r // 2:]
        rotated = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    else:
        a, b = rot[..., 0::2], rot[..., 1::2]
        rotated = torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)
    return torch.cat((rotated, rest), dim=-1) if rest.shape[-1] else rotated


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


def attention_inputs(spec: ModelSpec, *, positions: Tensor, past: int, seq: int,
                     key_valid: Tensor | None, key_positions: Tensor | None,
                     dtype: torch.dtype) -> AttentionInputs:
    """Masks per attention kind for queries at cache slots [past, past+seq).

    Causality and windows work on cache slots, which differ from token positions only by the
    left padding, itself masked: a query sees key j when j <= i, i - j < window (local layers)
    and j is not padding. Every query also sees itself, so a padding row never attends to
    nothing (its output is ignored, but it must not be NaN).
    """
    device = positions.device
    total = past + seq
    rotary = rotary_tables(spec, positions, dtype) if spec.rotary else {}
    alibi = spec.position == "alibi"
    padded = key_valid is not None and not bool(key_valid.all())
    masks: dict[str, Tensor | None] = {}
    for kind in set(spec.layer_kinds):
        window = spec.local_window if kind == "local" else None
        binds = window is not None and total > window
        if not (alibi or padded or binds or (seq > 1 and past > 0)):
            masks[kind] = None  # SDPA's own causal flag (seq > 1) or nothing at all (seq == 1)
            continue
        q = torch.arange(past, total, device=device)[:, None]
        k = torch.arange(total, device=device)[None, :]
        allowed = k <= q
        if window is not None:
            allowed = allowed & (q - k < window)
        allowed = allowed[None, None]
        if padded:
            allowed = (allowed & key_valid[:, None, None, :].bool()) | (q == k)[None, None]
        if alibi:
            assert key_positions is not None
            distance = (positions[:, None, :, None] - key_positions[:, None, None, :]).float()
            bias = -alibi_slopes(spec.n_head).to(device)[None, :, None, None] * distance
            masks[kind] = bias.masked_fill(~allowed, float("-inf")).to(dtype)
        else:
            masks[kind] = allowed
    return AttentionInputs(masks=masks, causal=seq > 1 and past == 0, rotary=rotary)


# --- attention and MLP ----------------------------------------------------------------------

class Attention(nn.Module):
    """Causal self-attention with fused q/k/v; `kind` selects the layer's mask (global/local).

    Optional parts follow the spec: QK-norm (per head, or over the whole projection) before
    the rotary, the layer's rotary table (none, global or local), a score scale other than
    1/sqrt(d_head), and soft-capped scores, which SDPA cannot do and so take the explicit path.
    """

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec, self.layer, self.dropout = spec, layer, dropout
        self.kind = spec.layer_kinds[layer]
        self.rope = rope_key(spec, layer)
        self.n_head, self.kv_heads, self.head_dim = spec.n_head, spec.kv_heads, spec.head_dim
        self.qkv = Linear(spec.d_model, spec.q_dim + 2 * spec.kv_dim, bias=spec.has_bias("qkv"))
        self.out = Linear(spec.q_dim, spec.d_model, bias=spec.has_bias("attn_out"))
        self.q_norm = self.k_norm = None
        if spec.qk_norm != "none":
            per_head = spec.qk_norm == "head"
            self.q_norm = make_norm(spec, spec.head_dim if per_head else spec.q_dim)
            self.k_norm = make_norm(spec, spec.head_dim if per_head else spec.kv_dim)
        if not spec.scale_attention:
            self.scale: float | None = 1.0
        elif spec.query_pre_attn_scalar is not None:
            self.scale = spec.query_pre_attn_scalar ** -0.5
        else:
            self.scale = None  # SDPA's own 1/sqrt(d_head)
        self.softcap = spec.attn_softcap

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape
        q, k, v = self.qkv(x).split([self.spec.q_dim, self.spec.kv_dim, self.spec.kv_dim], -1)
        if self.q_norm is not None and self.spec.qk_norm == "projection":
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.view(batch, seq, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.q_norm is not None and self.spec.qk_norm == "head":
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None:
            cos, sin = inputs.rotary[self.rope]
            q = apply_rotary(q, cos, sin, self.spec.rotary_style)
            k = apply_rotary(k, cos, sin, self.spec.rotary_style)
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        mask = inputs.masks[self.kind]
        dropout = self.dropout if self.training else 0.0
        if self.softcap is not None:
            y = capped_attention(q, k, v, mask, inputs.causal, self.scale, self.softcap, dropout)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=mask is None and inputs.causal,
                dropout_p=dropout, scale=self.scale, enable_gqa=self.kv_heads != self.n_head)
        return self.out(y.transpose(1, 2).reshape(batch, seq, self.spec.q_dim))


def capped_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool,
                     scale: float | None, cap: float, dropout: float) -> Tensor:
    """Attention with soft-capped scores, cap * tanh(s / cap) (Gemma 2), written out: q (batch,
    heads, q, d), k and v (batch, kv heads, k, d); the mask as SDPA takes it."""
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    scores = cap * torch.tanh(scores / cap)
    if mask is None and causal:
        queries, keys = q.shape[2], k.shape[2]
        mask = torch.ones(queries, keys, dtype=torch.bool, device=q.device).tril(keys - queries)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else scores + mask
    weights = scores.float().softmax(-1).to(q.dtype)
    if dropout:
        weights = F.dropout(weights, dropout)
    return weights @ v


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swiglu": F.silu,  # the gate's activation
    "geglu": lambda x: F.gelu(x, approximate="tanh"),
}


class MLP(nn.Module):
    """d_model -> d_ff -> d_model; gated (SwiGLU, GeGLU) keeps gate and up in one [gate; up]
    matrix."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.gated = spec.gated
        width = 2 * spec.d_ff if self.gated else spec.d_ff
        self.fc_in = Linear(spec.d_model, width, bias=spec.has_bias("mlp"))
        self.fc_out = Linear(spec.d_ff, spec.d_model, bias=spec.has_bias("mlp"))
        self.act = _ACTIVATIONS[spec.activation]

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc_in(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = self.act(gate) * up
        else:
            h = self.act(h)
        return self.fc_out(h)
