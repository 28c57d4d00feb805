"""The selective state spaces: Mamba's (Gu and Dao 2023) and Mamba-2's (Dao and Gu 2024,
"Transformers are SSMs"), a recurrent state per channel or head instead of a KV cache.

Mamba (MambaMixer, FalconMambaMixer): in_proj gives x and the gate z, each d_inner wide; after a
causal depthwise convolution (SiLU) over x, x_proj gives a low-rank step, B and C (d_state each;
Falcon-Mamba RMS-normalises the three without weights), dt = softplus(dt_proj(step)) per
channel, and each channel keeps a state of d_state that decays by exp(dt A) (A = -exp(A_log),
one per channel and state) and takes dt x B; the output C.S + D x, times SiLU(z), is projected
back. transformers scans token by token, and so does zoo.

Mamba-2:
One projection gives the gate z, the convolution's channels (x, and B and C per group of heads)
and a time step per head. After a causal depthwise convolution (SiLU) over x, B and C, each head
h keeps a state S (head_dim x d_state) that decays by exp(dt A_h) and takes dt x B^T per token,
with dt = softplus(step + dt_bias) and A_h = -exp(A_log_h); the output is S C plus the skip
D_h x. The outputs times SiLU(z) are RMS-normalised per group (the gated norm, weight as is),
then projected back to d_model. The scan runs in fp32, as transformers' torch path computes it:
prompts chunk by chunk (the state space duality: a masked decay matrix within a chunk, the
state carried between chunks), decoding steps one token at a time; the cache keeps the last
kernel - 1 convolution inputs and the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.model.attention import AttentionInputs
from zoo.model.layers import Linear
from zoo.spec import ModelSpec

if TYPE_CHECKING:
    from zoo.model.cache import KVCache

CHUNK = 64  # positions per block of the prompt's scan (the result does not depend on it)


def _chunked_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, state: Tensor
                  ) -> tuple[Tensor, Tensor]:
    """y_t = C_t S_t with S_t = exp(dt_t A) S_{t-1} + dt_t x_t B_t^T, over chunks: within one,
    y_i = sum_{j <= i} (C_i . B_j) exp(cum_i - cum_j) dt_j x_j + exp(cum_i) C_i S_start, where
    cum is the running sum of dt A. x (b, t, h, p), dt (b, t, h), B and C (b, t, h, n), state
    (b, h, p, n): all fp32. Returns y (b, t, h, p) and the last state."""
    outputs = []
    for start in range(0, x.shape[1], CHUNK):
        xs, dts, Bs, Cs = (t[:, start:start + CHUNK] for t in (x, dt, B, C))
        cum = (dts * A).cumsum(1)  # (b, l, h)
        length = cum.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        decay = (cum[:, :, None] - cum[:, None]).masked_fill(~causal[None, :, :, None],
                                                             float("-inf")).exp()  # (b, i, j, h)
        xdt = xs * dts[..., None]
        scores = torch.einsum("bihn,bjhn->bijh", Cs, Bs) * decay
        y = torch.einsum("bijh,bjhp->bihp", scores, xdt)
        y = y + torch.einsum("bihn,bhpn->bihp", Cs, state) * cum.exp()[..., None]
        tail = (cum[:, -1:] - cum).exp()  # (b, l, h): decay from each position to the end
        state = (state * cum[:, -1].exp()[..., None, None]
                 + torch.einsum("bjhn,bjhp->bhpn", Bs * tail[..., None], xdt))
        outputs.append(y)
    return torch.cat(outputs, 1), state


class Mamba2Mixer(nn.Module):
    """One Mamba-2 layer. `in_proj` is [z; x; B; C; dt], `conv` the depthwise kernel over x, B
    and C (channels, 1, kernel), `norm` the gated RMSNorm's weight over d_inner, `out_proj`
    back to d_model; A_log, D and dt_bias one per head."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert spec.ssm_d_inner is not None and spec.ssm_d_state is not None
        assert spec.ssm_n_head is not None and spec.ssm_n_group is not None
        assert spec.ssm_conv_kernel is not None
        self.layer, self.eps = layer, spec.norm_eps
        self.inner, self.state_size = spec.ssm_d_inner, spec.ssm_d_state
        self.heads, self.groups, self.kernel = spec.ssm_n_head, spec.ssm_n_group, \
            spec.ssm_conv_kernel
        self.head_dim = self.inner // self.heads
        self.channels = self.inner + 2 * self.groups * self.state_size
        self.in_proj = Linear(spec.d_model, self.inner + self.channels + self.heads,
                              bias=spec.ssm_proj_bias)
        self.conv = nn.Parameter(torch.empty(self.channels, 1, self.kernel))
        self.conv_bias = nn.Parameter(torch.empty(self.channels)) if spec.ssm_conv_bias \
            else None
        self.A_log = nn.Parameter(torch.empty(self.heads))
        self.D = nn.Parameter(torch.empty(self.heads))
        self.dt_bias = nn.Parameter(torch.empty(self.heads))
        self.norm = nn.Parameter(torch.empty(self.inner))
        self.out_proj = Linear(self.inner, spec.d_model, bias=spec.ssm_proj_bias)

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, dtype = x.shape[0], x.shape[1], x.dtype
        valid = inputs.valid[:, :, None].to(dtype) if inputs.valid is not None else None
        if valid is not None:  # padding feeds zeros, and its convolution outputs are zeroed
            x = x * valid
        z, xbc, step = self.in_proj(x).split([self.inner, self.channels, self.heads], -1)
        state = cache.state(self.layer) if cache is not None else None
        xbc = xbc.transpose(1, 2)
        history = (state[0].to(xbc.dtype) if state is not None
                   else xbc.new_zeros(batch, self.channels, self.kernel - 1))
        window = torch.cat([history, xbc], -1)
        xbc = F.silu(F.conv1d(window, self.conv, self.conv_bias, groups=self.channels))
        xbc = xbc.transpose(1, 2)
        if valid is not None:
            xbc = xbc * valid
        group_width = self.groups * self.state_size
        xs, B, C = xbc.float().split([self.inner, group_width, group_width], -1)
        xs = xs.view(batch, seq, self.heads, self.head_dim)
        B, C = (t.view(batch, seq, self.groups, self.state_size)
                .repeat_interleave(self.heads // self.groups, 2) for t in (B, C))
        dt = F.softplus(step + self.dt_bias.to(dtype)).float()  # (b, t, h)
        A = -self.A_log.float().exp()
        s = (state[1] if state is not None else
             x.new_zeros(batch, self.heads, self.head_dim, self.state_size, dtype=torch.float32))
        if seq == 1:  # a decoding step: the recurrence itself
            s = (s * (dt[:, 0] * A).exp()[..., None, None]
                 + (xs[:, 0] * dt[:, 0, :, None])[..., None] * B[:, 0, :, None])
            y = torch.einsum("bhpn,bhn->bhp", s, C[:, 0])[:, None]
        else:
            y, s = _chunked_scan(xs, dt, A, B, C, s)
        if cache is not None:
            cache.set_state(self.layer, window[:, :, window.shape[-1] - self.kernel + 1:], s,
                            seq)
        y = (y + xs * self.D.float()[:, None]).reshape(batch, seq, self.inner)
        y = (y * F.silu(z.float())).view(batch, seq, self.groups, -1)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        y = self.norm.float() * y.reshape(batch, seq, self.inner)
        return self.out_proj(y.to(dtype))


def _weightless_rms(x: Tensor, eps: float) -> Tensor:
    return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class MambaMixer(nn.Module):
    """One Mamba layer. `in_proj` is [x; z], `conv` the depthwise kernel over x (d_inner, 1,
    kernel), `x_proj` d_inner -> [step; B; C], `dt_proj` step -> d_inner (with a bias), A_log
    (d_inner, d_state) and D (d_inner), `out_proj` back to d_model; Jamba's norm weights of the
    step, B and C (`dt_norm`, `b_norm`, `c_norm`)."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        assert spec.ssm_d_inner is not None and spec.ssm_d_state is not None
        assert spec.ssm_dt_rank is not None and spec.ssm_conv_kernel is not None
        self.layer, self.inner, self.state_size = layer, spec.ssm_d_inner, spec.ssm_d_state
        self.rank, self.kernel = spec.ssm_dt_rank, spec.ssm_conv_kernel
        self.inner_eps = spec.ssm_inner_norm_eps  # Falcon-Mamba's weightless norms, or None
        # Jamba's RMSNorms of the step, B and C, with weights (at the model's norm_eps)
        self.norm_eps = spec.norm_eps if spec.ssm_inner_norms else None
        if spec.ssm_inner_norms:
            self.dt_norm = nn.Parameter(torch.empty(self.rank))
            self.b_norm = nn.Parameter(torch.empty(self.state_size))
            self.c_norm = nn.Parameter(torch.empty(self.state_size))
        self.in_proj = Linear(spec.d_model, 2 * self.inner, bias=spec.ssm_proj_bias)
        self.conv = nn.Parameter(torch.empty(self.inner, 1, self.kernel))
        self.conv_bias = nn.Parameter(torch.empty(self.inner)) if spec.ssm_conv_bias else None
        self.x_proj = Linear(self.inner, self.rank + 2 * self.state_size, bias=False)
        self.dt_proj = Linear(self.rank, self.inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.inner, self.state_size))
        self.D = nn.Parameter(torch.empty(self.inner))
        self.out_proj = Linear(self.inner, spec.d_model, bias=spec.ssm_proj_bias)

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None = None) -> Tensor:
        batch, seq, dtype = x.shape[0], x.shape[1], x.dtype
        valid = inputs.valid[:, :, None].to(dtype) if inputs.valid is not None else None
        if valid is not None:  # padding feeds zeros, and its convolution outputs are zeroed
            x = x * valid
        xs, z = self.in_proj(x).chunk(2, -1)
        state = cache.state(self.layer) if cache is not None else None
        xs = xs.transpose(1, 2)
        history = (state[0].to(xs.dtype) if state is not None
                   else xs.new_zeros(batch, self.inner, self.kernel - 1))
        window = torch.cat([history, xs], -1)
        xs = F.silu(F.conv1d(window, self.conv, self.conv_bias, groups=self.inner)).transpose(1, 2)
        if valid is not None:
            xs = xs * valid
        step, B, C = self.x_proj(xs).split([self.rank, self.state_size, self.state_size], -1)
        if self.inner_eps is not None:
            step, B, C = (_weightless_rms(t, self.inner_eps) for t in (step, B, C))
        if self.norm_eps is not None:  # weighted: the weight times the cast-back values
            step, B, C = (w * _weightless_rms(t, self.norm_eps) for t, w in
                          ((step, self.dt_norm), (B, self.b_norm), (C, self.c_norm)))
        dt = F.softplus(F.linear(step, self.dt_proj.weight) + self.dt_proj.bias.float())
        A = -self.A_log.float().exp()  # (d_inner, d_state)
        dtx, B, C = dt * xs.float(), B.float(), C.float()
        s = (state[1] if state is not None else
             x.new_zeros(batch, self.inner, self.state_size, dtype=torch.float32))
        outputs = []
        for t in range(seq):  # (batch, d_inner, d_state)
            s = (dt[:, t, :, None] * A).exp() * s + dtx[:, t, :, None] * B[:, t, None]
            outputs.append((s * C[:, t, None]).sum(-1))
        if cache is not None:
            cache.set_state(self.layer, window[:, :, window.shape[-1] - self.kernel + 1:], s,
                            seq)
        y = (torch.stack(outputs, 1) + xs.float() * self.D.float()) * F.silu(z.float())
        return self.out_proj(y.to(dtype))


__all__ = ["Mamba2Mixer", "MambaMixer"]
