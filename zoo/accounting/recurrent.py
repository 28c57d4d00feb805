"""Closed forms of the token mixers that keep a recurrent state instead of keys: the selective
state spaces (Mamba's `mamba`, Mamba-2's `mamba2`), LFM2's gated short convolution
(`short_conv`), Griffin's real-gated linear recurrent unit (RecurrentGemma's `rglru`), RWKV's
time mix (`rwkv`, whose layers' MLP is RWKV's channel mix), MiniMax-01's lightning attention
(`lightning`), xLSTM's matrix memory (`mlstm`) and Kimi Linear's delta attention (`kda`), with
no torch.

Each mixer gives (parameters, matrix weights a token passes through, norm weights inside it),
as `zoo.accounting.params` does for attention, and its state per sequence: constant in context,
the scan's state and the last kernel - 1 inputs of its causal convolution. zoo counts these
layers exactly; it builds `mamba` and `mamba2` (zoo.model.ssm), the others not (the spec says
so in counted_only); each formula mirrors
the module of transformers 5.25 named in its docstring, tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Callable

from zoo.spec import ModelSpec

Mixer = tuple[int, int, int]  # (parameters, matrix weights, norm weights inside it)


def _mamba(spec: ModelSpec) -> Mixer:
    """MambaMixer (and JambaMambaMixer, FalconMambaMixer): in_proj d -> 2 x inner (x and the
    gate z), a depthwise convolution over inner, x_proj inner -> dt_rank + 2 x d_state (the
    step, B and C), dt_proj dt_rank -> inner with a bias, A_log (inner x d_state) and D (inner),
    out_proj inner -> d; Jamba adds RMSNorms of the step (dt_rank), B and C (d_state each)."""
    assert spec.ssm_d_inner is not None and spec.ssm_d_state is not None
    assert spec.ssm_dt_rank is not None and spec.ssm_conv_kernel is not None
    d, inner, state, rank = spec.d_model, spec.ssm_d_inner, spec.ssm_d_state, spec.ssm_dt_rank
    conv = inner * spec.ssm_conv_kernel
    matrices = d * 2 * inner + inner * (rank + 2 * state) + rank * inner + inner * d
    params = matrices + conv + inner + inner * state + inner
    params += inner if spec.ssm_conv_bias else 0
    params += 2 * inner + d if spec.ssm_proj_bias else 0
    norms = rank + 2 * state if spec.ssm_inner_norms else 0
    return params, matrices + conv, norms


def mamba2_conv_dim(spec: ModelSpec) -> int:
    """Channels a Mamba-2 layer's convolution runs over: x, and B and C per group."""
    assert spec.ssm_d_inner is not None and spec.ssm_n_group is not None
    assert spec.ssm_d_state is not None
    return spec.ssm_d_inner + 2 * spec.ssm_n_group * spec.ssm_d_state


def _mamba2(spec: ModelSpec) -> Mixer:
    """Mamba2Mixer (Bamba, Nemotron-H, Granite 4 hybrids, Falcon-H1 alike): in_proj d -> the
    gate z (inner), the convolution's channels (x, B and C) and one step per head; a depthwise
    convolution; dt_bias, A_log and D, one per head; the gated RMSNorm over inner; out_proj
    inner -> d."""
    assert spec.ssm_d_inner is not None and spec.ssm_n_head is not None
    assert spec.ssm_conv_kernel is not None
    d, inner, heads, conv_dim = spec.d_model, spec.ssm_d_inner, spec.ssm_n_head, \
        mamba2_conv_dim(spec)
    projected = inner + conv_dim + heads
    conv = conv_dim * spec.ssm_conv_kernel
    matrices = d * projected + inner * d
    params = matrices + conv + 3 * heads
    params += conv_dim if spec.ssm_conv_bias else 0
    params += projected + d if spec.ssm_proj_bias else 0
    return params, matrices + conv, inner if spec.ssm_gated_norm else 0


def _short_conv(spec: ModelSpec) -> Mixer:
    """Lfm2ShortConv: in_proj d -> 3 x d (B, C and x), a depthwise convolution over d of
    short_conv_kernel taps, out_proj d -> d; one bias switch for all three."""
    assert spec.short_conv_kernel is not None
    d = spec.d_model
    conv = d * spec.short_conv_kernel
    matrices = 3 * d * d + d * d
    biases = 3 * d + d + d if spec.short_conv_bias else 0
    return matrices + conv + biases, matrices + conv, 0


def _rglru(spec: ModelSpec) -> Mixer:
    """RecurrentGemmaRecurrentBlock: linear_y and linear_x d -> lru_width and linear_out back,
    all with biases; a depthwise convolution over lru_width with a bias; the RG-LRU's
    recurrent_param (lru_width) and its input and recurrent gates, block-diagonal over the
    attention heads (n_head blocks of (lru_width / n_head)^2, a bias each)."""
    assert spec.lru_width is not None and spec.lru_conv_kernel is not None
    d, width, heads = spec.d_model, spec.lru_width, spec.n_head
    conv = width * spec.lru_conv_kernel
    gates = 2 * heads * (width // heads) ** 2
    matrices = 2 * d * width + width * d
    params = matrices + 2 * width + d + conv + width + width + gates + 2 * width
    return params, matrices + conv + gates, 0


def _rwkv(spec: ModelSpec) -> Mixer:
    """RwkvSelfAttention (the time mix): key, value and receptance d -> rwkv_width and output
    back, no biases; time_decay and time_first per channel; three token-shift mixes of d."""
    assert spec.rwkv_width is not None
    d, width = spec.d_model, spec.rwkv_width
    matrices = 4 * d * width
    return matrices + 2 * width + 3 * d, matrices, 0


def rwkv_channel_mix(spec: ModelSpec) -> tuple[int, int]:
    """(parameters, matrix weights) of RwkvFeedForward, the MLP of an `rwkv` layer: key
    d -> d_ff, value d_ff -> d, receptance d -> d, no biases; two token-shift mixes of d."""
    d = spec.d_model
    matrices = 2 * d * spec.d_ff + d * d
    return matrices + 2 * d, matrices


def _lightning(spec: ModelSpec) -> Mixer:
    """MiniMaxLightningAttention (MiniMax-Text-01, MiniMax-M1): qkv_proj d -> 3 x heads x
    head_dim, output_gate d -> heads x head_dim and out_proj back to d, no biases, and an
    RMSNorm over heads x head_dim; its decay rates are buffers, not parameters."""
    d, inner = spec.d_model, spec.n_head * spec.head_dim
    matrices = 3 * d * inner + d * inner + inner * d
    return matrices, matrices, inner


def _mlstm(spec: ModelSpec) -> Mixer:
    """xLSTMLayer (weight_mode single or fused, the same shapes): q and k d -> qk_dim, v and the
    output gate d -> v_dim, the input and forget gates d -> one per head with biases, no other
    bias; a LayerNorm weight per value channel over each head (multihead_norm); out_proj
    v_dim -> d."""
    assert spec.mlstm_qk_dim is not None and spec.mlstm_v_dim is not None
    d, qk, v, heads = spec.d_model, spec.mlstm_qk_dim, spec.mlstm_v_dim, spec.n_head
    matrices = 2 * d * qk + 2 * d * v + 2 * d * heads + v * d
    return matrices + 2 * heads, matrices, v


def _kda(spec: ModelSpec) -> Mixer:
    """KimiLinearDeltaAttention (Kimi Linear): Gated DeltaNet whose decay is per channel. q, k
    and v d -> heads x head_dim, no biases; a depthwise convolution over the three, no bias;
    the forget gate low-rank (f_a d -> head_dim, f_b head_dim -> heads x head_dim) with a step
    bias per channel (dt_bias) and a decay rate per head (A_log); b_proj d -> heads (the write
    strength); the output gate low-rank as the forget gate (g_a, g_b); a gated RMSNorm of
    head_dim shared by the heads; o_proj heads x head_dim -> d. The linear_* fields give its
    geometry (key and value heads alike). With kda_full_rank_gates (BailingHybridDeltaAttention,
    Ling 3) each gate is one projection d -> heads x head_dim (forget_gate.f_proj, g_proj)."""
    assert spec.linear_n_k_head is not None and spec.linear_d_head_k is not None
    assert spec.linear_conv_kernel is not None
    d, heads, width = spec.d_model, spec.linear_n_k_head, spec.linear_d_head_k
    inner = heads * width
    conv = 3 * inner * spec.linear_conv_kernel
    gate = d * inner if spec.kda_full_rank_gates else d * width + width * inner
    gates = 2 * gate  # the forget and the output gate
    matrices = 3 * d * inner + gates + d * heads + inner * d
    return matrices + conv + inner + heads, matrices + conv, width


MIXERS: dict[str, Callable[[ModelSpec], Mixer]] = {"mamba": _mamba, "mamba2": _mamba2,
                                                   "short_conv": _short_conv, "rglru": _rglru,
                                                   "rwkv": _rwkv, "lightning": _lightning,
                                                   "mlstm": _mlstm, "kda": _kda}


def mixer_params(spec: ModelSpec, kind: str) -> Mixer:
    """(parameters, matrix weights, norm weights inside it) of one layer's mixer of this kind;
    a block without a mixer (`none`: Nemotron-H's MLP layers) has none."""
    return MIXERS[kind](spec) if kind in MIXERS else (0, 0, 0)


def ssm_state_size(spec: ModelSpec) -> int:
    """Elements of one state-space layer's scan state: d_state per channel of d_inner (Mamba-2:
    heads x head width x d_state, the same product)."""
    assert spec.ssm_d_inner is not None and spec.ssm_d_state is not None
    return spec.ssm_d_inner * spec.ssm_d_state


def mixer_state_size(spec: ModelSpec, kind: str) -> int:
    """Elements of the recurrent state a mixer of this kind reads and updates per token (the
    short convolution keeps inputs only)."""
    if kind == "rglru":  # one value per channel
        assert spec.lru_width is not None
        return spec.lru_width
    if kind == "rwkv":  # the WKV numerator, denominator and running maximum per channel
        assert spec.rwkv_width is not None
        return 3 * spec.rwkv_width
    if kind == "lightning":  # a key-value matrix per head
        return spec.n_head * spec.head_dim * spec.head_dim
    if kind == "kda":  # a head_dim x head_dim key-value matrix per head
        assert spec.linear_n_k_head is not None and spec.linear_d_head_k is not None
        return spec.linear_n_k_head * spec.linear_d_head_k ** 2
    if kind == "mlstm":  # per head the matrix memory C, the normaliser n and the stabiliser m
        assert spec.mlstm_qk_dim is not None and spec.mlstm_v_dim is not None
        qk, v = spec.mlstm_qk_dim // spec.n_head, spec.mlstm_v_dim // spec.n_head
        return spec.n_head * (qk * v + qk + 1)
    return 0 if kind == "short_conv" else ssm_state_size(spec)


def mixer_state_width(spec: ModelSpec, kind: str) -> int:
    """Values one layer of this kind keeps per sequence: its scan state and its convolution's
    last kernel - 1 inputs (transformers' cache holds kernel columns, the newest included)."""
    if kind == "short_conv":
        assert spec.short_conv_kernel is not None
        return spec.d_model * (spec.short_conv_kernel - 1)
    if kind == "rglru":
        assert spec.lru_width is not None and spec.lru_conv_kernel is not None
        return spec.lru_width * spec.lru_conv_kernel
    if kind == "rwkv":  # and the last input of the time mix and of the channel mix
        return mixer_state_size(spec, kind) + 2 * spec.d_model
    if kind in ("lightning", "mlstm"):  # no convolution
        return mixer_state_size(spec, kind)
    if kind == "kda":  # and the convolution's last inputs over q, k and v
        assert spec.linear_conv_kernel is not None
        return mixer_state_size(spec, kind) + spec.linear_conv_dim * (spec.linear_conv_kernel - 1)
    assert spec.ssm_conv_kernel is not None and spec.ssm_d_inner is not None
    channels = spec.ssm_d_inner if kind == "mamba" else mamba2_conv_dim(spec)
    return ssm_state_size(spec) + channels * (spec.ssm_conv_kernel - 1)
