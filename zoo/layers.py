"""The parts of a decoder block, each one module with the spec's switches.

One attention (multi-head, grouped- and multi-query, rotary or ALiBi, global or windowed), one
MLP (plain or gated), one norm factory. Positions and masks are computed once per forward by
`Model` and handed to every block, so a block only does arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.spec import ModelSpec

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
    """x / rms(x) * weight, computed in fp32 (as LLaMA's reference code and transformers do)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim))

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def make_norm(spec: ModelSpec) -> nn.Module:
    if spec.norm == "rmsnorm":
        return RMSNorm(spec.d_model, spec.norm_eps)
    return LayerNorm(spec.d_model, eps=spec.norm_eps)


def check_token_ids(spec: ModelSpec, input_ids: Tensor) -> None:
    """Every id must index the vocabulary: a clear error, not an embedding's index crash."""
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= spec.vocab_size:
        raise ValueError(f"token id {high if high >= spec.vocab_size else low} is outside "
                         f"{spec.name}'s vocabulary of {spec.vocab_size}")


# --- positions ------------------------------------------------------------------------------

def rotary_tables(spec: ModelSpec, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos and sin, (batch, 1, seq, rotary_dim // 2), for token positions (batch, seq)."""
    dim = spec.rotary_dim
    inv_freq = 1.0 / (spec.rope_theta ** (
        torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    angles = positions.float()[:, None, :, None] * inv_freq
    return angles.cos().to(dtype), angles.sin().to(dtype)


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
    rotary: tuple[Tensor, Tensor] | None


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
    rotary = rotary_tables(spec, positions, dtype) if spec.position == "rotary" else None
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
    """Causal self-attention with fused q/k/v; `kind` selects the layer's mask (global/local)."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec, self.layer, self.dropout = spec, layer, dropout
        self.kind = spec.layer_kinds[layer]
        self.n_head, self.kv_heads, self.head_dim = spec.n_head, spec.kv_heads, spec.head_dim
        self.qkv = Linear(spec.d_model, spec.q_dim + 2 * spec.kv_dim, bias=spec.has_bias("qkv"))
        self.out = Linear(spec.q_dim, spec.d_model, bias=spec.has_bias("attn_out"))
        self.scale = None if spec.scale_attention else 1.0

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape
        q, k, v = self.qkv(x).split([self.spec.q_dim, self.spec.kv_dim, self.spec.kv_dim], -1)
        q = q.view(batch, seq, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        if inputs.rotary is not None:
            cos, sin = inputs.rotary
            q = apply_rotary(q, cos, sin, self.spec.rotary_style)
            k = apply_rotary(k, cos, sin, self.spec.rotary_style)
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        mask = inputs.masks[self.kind]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None and inputs.causal,
            dropout_p=self.dropout if self.training else 0.0, scale=self.scale,
            enable_gqa=self.kv_heads != self.n_head)
        return self.out(y.transpose(1, 2).reshape(batch, seq, self.spec.q_dim))


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


class MLP(nn.Module):
    """d_model -> d_ff -> d_model; gated (SwiGLU) keeps gate and up in one [gate; up] matrix."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.gated = spec.gated
        width = 2 * spec.d_ff if self.gated else spec.d_ff
        self.fc_in = Linear(spec.d_model, width, bias=spec.has_bias("mlp"))
        self.fc_out = Linear(spec.d_ff, spec.d_model, bias=spec.has_bias("mlp"))
        self.act = F.silu if self.gated else _ACTIVATIONS[spec.activation]

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc_in(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = self.act(gate) * up
        else:
            h = self.act(h)
        return self.fc_out(h)
