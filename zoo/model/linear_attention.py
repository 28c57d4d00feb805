"""Gated DeltaNet (Yang, Kautz and Hatamizadeh 2024), the linear attention of Qwen3-Next and
Qwen3.5: a recurrent state per value head instead of a KV cache.

Per token, after a causal depthwise convolution (SiLU) over q, k and v: q and k are L2-normalised
(q also scaled by 1/sqrt(d_k)), the state S (d_k x d_v) decays by exp(g) with
g = -exp(A_log) softplus(a + dt_bias), and moves towards v along k by the write strength
beta = sigmoid(b) (the delta rule: S += k (beta (v - k.S))); the output q.S is RMS-normalised
per head and gated by SiLU(z). Value heads share query/key heads in groups. The state is kept in
fp32, as transformers computes it. zoo runs the recurrence token by token for prompts and steps
alike: exact, if slower than a chunked prefill for long prompts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.model.attention import AttentionInputs
from zoo.model.layers import Linear, RMSNorm
from zoo.spec import ModelSpec

if TYPE_CHECKING:
    from zoo.model.cache import KVCache


def _l2norm(x: Tensor) -> Tensor:
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + 1e-6)


class GatedDeltaNet(nn.Module):
    """One linear-attention layer. `in_proj` is [q; k; v; z; b; a] in one matrix, `conv` the
    depthwise kernel over the q, k, v channels (channels, 1, kernel), `norm` the RMSNorm over
    each value head (weight as is, not 1 + w), `out_proj` back to d_model."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert spec.linear_n_v_head is not None and spec.linear_n_k_head is not None
        assert spec.linear_d_head_k is not None and spec.linear_d_head_v is not None
        assert spec.linear_conv_kernel is not None
        self.spec, self.layer = spec, layer
        self.k_heads, self.v_heads = spec.linear_n_k_head, spec.linear_n_v_head
        self.d_k, self.d_v = spec.linear_d_head_k, spec.linear_d_head_v
        self.kernel, channels = spec.linear_conv_kernel, spec.linear_conv_dim
        self.in_proj = Linear(spec.d_model, channels + spec.linear_v_dim + 2 * self.v_heads,
                              bias=False)
        self.conv = nn.Parameter(torch.empty(channels, 1, self.kernel))
        self.A_log = nn.Parameter(torch.empty(self.v_heads))
        self.dt_bias = nn.Parameter(torch.empty(self.v_heads))
        self.norm = RMSNorm(self.d_v, spec.norm_eps)
        self.out_proj = Linear(spec.linear_v_dim, spec.d_model, bias=False)

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        spec, batch, seq = self.spec, x.shape[0], x.shape[1]
        if inputs.valid is not None:  # padding feeds zeros: no input, so no change of state
            x = x * inputs.valid[:, :, None].to(x.dtype)
        channels = spec.linear_conv_dim
        qkv, z, b, a = self.in_proj(x).split(
            [channels, spec.linear_v_dim, self.v_heads, self.v_heads], -1)
        state = cache.state(self.layer) if cache is not None else None
        qkv = qkv.transpose(1, 2)
        history = (state[0].to(qkv.dtype) if state is not None
                   else qkv.new_zeros(batch, channels, self.kernel - 1))
        window = torch.cat([history, qkv], -1)
        conv = F.silu(F.conv1d(window, self.conv, groups=channels)).transpose(1, 2)
        q, k, v = conv.split([spec.linear_k_dim, spec.linear_k_dim, spec.linear_v_dim], -1)
        groups = self.v_heads // self.k_heads
        q, k = (t.float().view(batch, seq, self.k_heads, self.d_k)
                .repeat_interleave(groups, 2) for t in (q, k))
        q, k = _l2norm(q) * self.d_k ** -0.5, _l2norm(k)
        v = v.float().view(batch, seq, self.v_heads, self.d_v)
        beta = b.float().sigmoid()
        decay = (-self.A_log.float().exp() * F.softplus(a.float() + self.dt_bias.float())).exp()
        s = (state[1] if state is not None
             else x.new_zeros(batch, self.v_heads, self.d_k, self.d_v, dtype=torch.float32))
        outputs = []
        for t in range(seq):
            s = s * decay[:, t, :, None, None]
            k_t = k[:, t]
            error = v[:, t] - torch.einsum("bhk,bhkv->bhv", k_t, s)
            s = s + torch.einsum("bhk,bhv->bhkv", k_t, error * beta[:, t, :, None])
            outputs.append(torch.einsum("bhk,bhkv->bhv", q[:, t], s))
        if cache is not None:
            cache.set_state(self.layer, window[:, :, window.shape[-1] - self.kernel + 1:], s,
                            seq)
        y = torch.stack(outputs, 1).to(x.dtype)  # (batch, seq, value heads, d_v)
        gate = F.silu(z.view(batch, seq, self.v_heads, self.d_v).float())
        y = (self.norm(y).float() * gate).to(x.dtype)
        return self.out_proj(y.reshape(batch, seq, spec.linear_v_dim))


__all__ = ["GatedDeltaNet"]
