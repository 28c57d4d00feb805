"""Attention, each kind one module with the spec's switches: multi-head with grouped- and
multi-query heads, rotary or ALiBi, global, windowed or chunked (`Attention`); each layer with
its own geometry (`LayerAttention`, Gemma 4); latent attention with DeepSeek-V3.2's sparse
indexer (`LatentAttention`). What every block's attention needs besides its input (masks,
rotary tables, query temperatures) is computed once per forward by `attention_inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.model import native
from zoo.model.layers import (
    HeadLayerNorm,
    LayerNorm,
    Linear,
    RMSNorm,
    alibi_slopes,
    apply_rotary,
    make_norm,
    rope_key,
    rotary_tables,
)
from zoo.spec import ModelSpec

if TYPE_CHECKING:
    from zoo.model.cache import KVCache


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
    valid: Tensor | None = None  # (batch, seq): which new tokens are real (recurrent layers)
    # per attention kind, the keys and values (all positions) of the last layer that made
    # them, for the layers that share them (Gemma 4's kv_shared_layers)
    shared: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    # Gemma 4's per-layer inputs, (batch, seq, n_layer, per_layer_embed_dim)
    per_layer: Tensor | None = None


class TemperatureForm(NamedTuple):
    every_layer: bool  # the layers with rotary too
    offset: float  # added to the token position before the floor
    log_one_plus: Callable[[Tensor], Tensor]  # log(1 + steps), spelled as the reference does
    cast: bool  # the scale cast to the queries' dtype before it multiplies them


TEMPERATURE_FORMS = {
    "nope_layers": TemperatureForm(False, 1.0, torch.log1p, False),  # Llama 4
    "all_layers": TemperatureForm(True, 0.0, lambda s: torch.log(1 + s), True),  # Ministral 3
}


def query_temperature(spec: ModelSpec, positions: Tensor, dtype: torch.dtype) -> Tensor | None:
    """Attention temperature tuning, per query: 1 + scale x log(1 + floor((p + offset) /
    floor)) at token position p, in fp32 (as Meta's and Mistral's code and transformers
    compute it), in its temperature_form: longer contexts sharpen the scores (Nakanishi 2025,
    "Scalable-Softmax Is Superior for Attention", arXiv 2501.19399)."""
    if spec.temperature_floor is None or spec.temperature_scale is None:
        return None
    form = TEMPERATURE_FORMS[spec.temperature_form]
    steps = torch.floor((positions.float() + form.offset) / spec.temperature_floor)
    scale = (form.log_one_plus(steps) * spec.temperature_scale + 1.0)[:, None, :, None]
    return scale.to(dtype) if form.cast else scale


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
    for kind in set(spec.layer_kinds) - {"linear", "mamba", "mamba2"}:  # recurrent: no mask
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
                           temperature=query_temperature(spec, positions, dtype), valid=valid)


# --- attention and MLP ----------------------------------------------------------------------

class Attention(nn.Module):
    """Causal self-attention with fused q/k/v; `kind` selects the layer's mask (global/local).

    Optional parts follow the spec: q, k and v clipped (OLMo 1), QK-norm (per head, or over the
    whole projection) before the rotary, or Llama 4's weight-free one after it, the layer's
    rotary table (none, global or local), the query temperature (Llama 4: on layers without
    rotary; Ministral 3: on every layer), a score scale other than 1/sqrt(d_head), and
    soft-capped scores, which SDPA cannot do and so take the explicit path.
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
        last = spec.last_attn_out_bias and layer == spec.n_layer - 1  # GPT-NeoX Japanese
        self.out = Linear(spec.q_dim, spec.d_model, bias=spec.has_bias("attn_out") or last)
        self.q_norm = self.k_norm = None
        # Llama 4: each q and k head RMS-normalised without a weight, on rotary layers only
        self.l2_norm = spec.qk_norm == "l2" and self.rope is not None
        # Llama 4: queries of the layers without rotary scaled by the temperature tuning
        # (Ministral 3: of every layer)
        self.tuned = spec.temperature_tuning and (
            self.rope is None or TEMPERATURE_FORMS[spec.temperature_form].every_layer)
        if spec.qk_norm == "each_head":
            self.q_norm = HeadLayerNorm(spec.n_head, spec.head_dim, spec.norm_eps)
            self.k_norm = HeadLayerNorm(spec.kv_heads, spec.head_dim, spec.norm_eps)
        elif spec.qk_norm in ("head", "projection", "head_layernorm"):
            per_head = spec.qk_norm != "projection"  # head_layernorm: the spec's LayerNorm
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
        self.differential = spec.differential_attention
        if self.differential:  # DiffLlama's lambdas (see `_differential`)
            self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2 = (
                nn.Parameter(torch.empty(spec.head_dim)) for _ in range(4))
            self.lambda_init = 0.8 - 0.6 * math.exp(-0.3 * layer)

    fused = False  # zoo's one-call decoding step (zoo.model.native); Model.lay_out sets it
    fused_kernel = "zoo_attention"

    def fusable(self) -> bool:
        """Whether zoo's fused decoding step computes this layer: q, k and v as the fused
        projection gives them, each head RMS-normalised (a QK norm per head, as Qwen3's and
        Gemma 3's) or not, rotated (or not) by the layer's table, then plain attention."""
        spec = self.spec
        qk_norm = self.q_norm is None or (spec.qk_norm == "head" and all(
            type(n) is RMSNorm and n.weight is not None for n in (self.q_norm, self.k_norm)))
        return qk_norm and not (self.gated or spec.qkv_clip is not None
                                or self.l2_norm or self.tuned or self.differential
                                or self.softcap is not None or self.sinks is not None) \
            and spec.v_dim == spec.q_dim == self.n_head * self.head_dim \
            and spec.kv_dim == self.kv_heads * self.head_dim \
            and spec.rotary_style in ("half", "half_reversed", "interleaved")

    def kernel_choice(self) -> tuple[str | None, tuple[str, ...]]:
        """"zoo_attention" where zoo's fused step runs a decoding step (kernels.summary)."""
        return ("zoo_attention" if self.fused else None), ()

    def steps_in_one_call(self, x: Tensor, inputs: AttentionInputs,
                          cache: KVCache | None) -> bool:
        """Whether zoo's one-call decoding step runs this call: one fp32 position per sequence
        on the CPU, a cache, no mask, no gradients (the block's one-call step asks too)."""
        return self.fused and x.shape[1] == 1 and cache is not None \
            and inputs.masks[self.kind] is None and x.dtype == torch.float32 \
            and x.device.type == "cpu" and not torch.is_grad_enabled() \
            and not (self.training and self.dropout)

    def step_arguments(self, x: Tensor, inputs: AttentionInputs, cache: KVCache) -> list[Any]:
        """decode_attention's arguments after qkv (zoo/model/native.cpp): the rotary tables,
        the cache's storage with room for one more position and that position, the heads, the
        rotary style, the score scale and the QK norm (weights, eps, offset)."""
        batch = x.shape[0]
        like = x.new_empty((batch, self.kv_heads, 1, self.head_dim))
        keys, values, start = cache.reserve(self.layer, like, like)
        cos, sin = (t.contiguous() for t in inputs.rotary[self.rope]) \
            if self.rope is not None else (None, None)
        q_norm, k_norm = self.q_norm, self.k_norm
        return [cos, sin, keys, values, start, self.n_head,
                self.spec.rotary_style == "interleaved",
                self.head_dim ** -0.5 if self.scale is None else self.scale,
                None if q_norm is None else q_norm.weight,
                None if k_norm is None else k_norm.weight,
                self.spec.norm_eps if q_norm is None else q_norm.eps,
                float(q_norm is not None and q_norm.unit_offset)]

    def _fused_step(self, x: Tensor, inputs: AttentionInputs, cache: KVCache) -> Tensor:
        """One decoding step in one call (decode_attention in zoo/model/native.cpp): the new
        key and value rotated and written into the cache, the attention over all of it."""
        qkv = self.qkv(x).contiguous()
        return self.out(native.ops().decode_attention(qkv, *self.step_arguments(x, inputs,
                                                                                 cache)))

    def _differential(self, q: Tensor, k: Tensor, v: Tensor, inputs: AttentionInputs) -> Tensor:
        """Differential attention (Ye et al. 2024, arXiv 2410.05258) as DiffLlama computes it:
        every query head attends to [the first half of the value heads; the second half], each
        half repeated to all kv heads; head h + n_head / 2's output, scaled by lambda, is taken
        from head h's, then RMS-normalised over 2 d_head and scaled by 1 - lambda_init."""
        half = v.shape[1] // 2
        first, second = v[:, :half], v[:, half:]
        v = torch.cat([torch.cat([first, first], 1), torch.cat([second, second], 1)], -1)
        y = attend(q, k, v, inputs.masks[self.kind], inputs.causal, self.scale,
                   self.dropout if self.training else 0.0, self.softcap, self.sinks)
        a, b = y.chunk(2, 1)  # (batch, heads / 2, seq, 2 d_head) each
        lam = (torch.exp(torch.sum(self.lambda_q1 * self.lambda_k1, -1, dtype=torch.float32))
               .to(q.dtype) - torch.exp(torch.sum(self.lambda_q2 * self.lambda_k2, -1,
                                                  dtype=torch.float32)).to(q.dtype)
               + self.lambda_init)
        y = a - lam * b
        return (1 - self.lambda_init) * F.rms_norm(y, (y.shape[-1],), eps=self.spec.norm_eps)

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, _ = x.shape
        if self.steps_in_one_call(x, inputs, cache):
            assert cache is not None
            return self._fused_step(x, inputs, cache)
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
        if self.q_norm is not None and self.spec.qk_norm in ("head", "each_head",
                                                             "head_layernorm"):
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
        if self.differential:
            y = self._differential(q, k, v, inputs)
        else:
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
            self.q_down_norm = make_norm(spec, spec.q_lora_rank, spec.latent_eps)
            self.q_up = Linear(spec.q_lora_rank, spec.q_dim, bias=False)
        else:
            self.q = Linear(d, spec.q_dim, bias=False)
        self.kv_down = Linear(d, rank + self.rope_dim, bias=False)
        self.kv_down_norm = make_norm(spec, rank, spec.latent_eps)
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
