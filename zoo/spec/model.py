"""ModelSpec: one model's architecture and provenance, exactly as a spec file declares it.

A spec is data, not code: every switch the decoder and the accounting read is a field here, so a
new model is a YAML entry, never a subclass. Validation happens once, at load time, and every
failure is a `SpecError` that names the file, the model and the field, so a typo in a user's spec
is found in the message rather than in a stack trace three modules later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from typing import Any

from zoo.fields import SettingError, check, declared, describe
from zoo.spec.rules import check_consistency
from zoo.spec.vocabulary import (
    ACTIVATIONS,
    ASSERTIONS,
    ATTENTION_KINDS,
    BLOCKS,
    COMPRESSED_KINDS,
    GATED,
    GROUP_SCORES,
    HEAD_TRANSFORMS,
    HYPER_CONNECTION_FORMS,
    MAX_LAYERS,
    MLP_KINDS,
    NORM_POSITIONS,
    NORMS,
    POSITIONS,
    QK_NORMS,
    RECURRENT_KINDS,
    ROTARY_STYLES,
    ROUTER_SCORES,
    SINUSOID_STYLES,
    TEMPERATURE_FORMS,
    Reported,
    RopeScaling,
    SpecError,
    Weights,
    _arch,
    _identity,
    _provenance,
    _when,
)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One decoder-only model; `zoo.spec.field_table()` documents every field."""

    name: str = _identity("name", doc="the model's name (lowercase)")
    family: str = _identity("name", doc="the family it belongs to", family_level=True)
    aliases: tuple[str, ...] = _identity("name_list", (), doc="other names it is known by")

    # sizes
    n_layer: int = _arch("int", min=1, max=MAX_LAYERS, doc="transformer blocks",
                         why="far deeper than any model; every layer is counted and built one "
                             "by one, so a typo here costs minutes and gigabytes")
    d_model: int = _arch("int", min=1, doc="width of the residual stream")
    n_head: int = _arch("int", min=1, doc="attention (query) heads")
    d_ff: int = _arch("int", min=1, doc="hidden width of the MLP")
    vocab_size: int = _arch("int", min=1, doc="token vocabulary")
    context_length: int = _arch("int", min=1, doc="positions the model was trained for")

    # attention geometry
    n_kv_head: int | None = _arch(
        "int?", None, min=1, resolve=lambda s: s.kv_heads,
        doc="key/value heads: multi-query 1, grouped-query < n_head (default n_head)")
    d_head: int | None = _arch(
        "int?", None, min=1, resolve=lambda s: s.head_dim,
        doc="per-head width when n_head x d_head is not d_model (default d_model / n_head)")
    global_d_head: int | None = _arch(
        "int?", None, min=1, resolve=_when("has_global", lambda s: s.global_head_dim),
        doc="per-head width of the global layers when it differs from d_head (Gemma 4's "
            "global_head_dim 512)")
    global_kv_heads: int | None = _arch(
        "int?", None, min=1, resolve=_when("has_global", lambda s: s.global_kv),
        doc="key/value heads of the global layers when they differ from n_kv_head (Gemma 4's "
            "num_global_key_value_heads)")
    global_n_head: int | None = _arch(
        "int?", None, min=1, resolve=_when("has_global", lambda s: s.global_heads),
        doc="query heads of the global layers when they differ from n_head; latent attention "
            "only, its heads per layer kind (dots3's indexed layers: 128 beside the sliding "
            "layers' 64; counted, not built)")
    global_values_from_keys: bool = _arch(
        "bool", False, doc="global layers have no value projection: the key projection's output "
                           "is the value too, before its norm and rotary (Gemma 4's "
                           "attention_k_eq_v)")
    value_norm: bool = _arch(
        "bool", False, doc="each value head RMS-normalised, no weight (Gemma 4)")
    kv_shared_layers: int = _arch(
        "int", 0, min=0,
        doc="the last this-many layers have no key/value projections and no cache of their "
            "own: each attends to the keys and values of the last earlier layer of its kind "
            "(Gemma 4's num_kv_shared_layers; in an assistant all of them may, reading the "
            "target model's: target_width)")
    kv_shared_pattern: tuple[bool, ...] = _arch(
        "bool_list", (False,),
        doc="per layer, whether it attends to the keys and values of an earlier layer of its "
            "kind (true: no key/value projections, no key norm, no cache of its own), cycled; "
            "beside kv_shared_layers, for sharing anywhere in the depth (Kolibri 1.1's "
            "kv_source_layers; which earlier layer is not recorded: counted, not built)")
    attention_pattern: tuple[str, ...] = _arch(
        "enum_list", ("global",), choices=ATTENTION_KINDS, resolve=lambda s: s.layer_kinds,
        doc="per-layer `global` / `local` (a sliding window) / `chunked` / `linear` (Gated "
            "DeltaNet) attention, or another token mixer: `mamba` / `mamba2` (selective "
            "state spaces), `short_conv` (LFM2's gated convolution), `rglru` (Griffin's "
            "recurrence: RecurrentGemma), `rwkv` (RWKV's time mix), `lightning` "
            "(MiniMax-01's linear attention, of the attention's heads), `mlstm` (xLSTM's "
            "matrix memory), `kda` (Kimi Delta Attention: Gated DeltaNet with a decay per "
            "channel, of the linear geometry), DeepSeek-V4's attention (one shared key = value "
            "head over a window of local_window keys, queries through q_lora_rank, a grouped "
            "output): `window_mqa` (the window alone), `compressed_sparse` (and compressed "
            "entries an indexer picks) or `heavily_compressed` (and every compressed entry), "
            "`block_sparse` (MiniMax-M3's sparse layers: grouped-query attention over the key "
            "blocks a grouped indexer picks), `indexed` (Kolibri 1.1's indexed attention: "
            "grouped-query attention whose weightless indexer picks at most indexed_keys of the "
            "cached keys for each query; every key cached), `cross` (Mllama's "
            "cross-attention: queries from the text, keys and values projected from the "
            "image's states, of the global geometry, with q and k norms per head and tanh "
            "gates on both sublayers; no keys of the text cached), `none` (a block with an MLP "
            "only: Nemotron-H), cycled over the layers")
    local_window: int | None = _arch(
        "int?", None, min=1,
        resolve=lambda s: s.local_window if s.has_local or s.compressed else None,
        doc="keys a local layer (or DeepSeek-V4's window) sees, itself included")
    attention_chunk: int | None = _arch(
        "int?", None, min=1, resolve=_when("has_chunked", lambda s: s.attention_chunk),
        doc="chunked layers: the sequence cut into chunks of this many positions, a query "
            "seeing only the keys of its own chunk (Llama 4's attention_chunk_size)")
    linear_n_k_head: int | None = _arch(
        "int?", None, min=1, doc="linear (Gated DeltaNet) and kda layers: query and key "
                                 "heads (kda: as many as value heads, of the same width)")
    linear_n_v_head: int | None = _arch(
        "int?", None, min=1, doc="linear layers: value heads (a multiple of the key heads), "
                                 "each with a d_k x d_v recurrent state")
    linear_d_head_k: int | None = _arch("int?", None, min=1,
                                        doc="linear layers: the width of each query/key head")
    linear_d_head_v: int | None = _arch("int?", None, min=1,
                                        doc="linear layers: the width of each value head")
    linear_conv_kernel: int | None = _arch(
        "int?", None, min=1, doc="linear layers: the causal depthwise convolution's kernel "
                                 "over q, k and v (Qwen3-Next's 4)")
    kda_full_rank_gates: bool = _arch(
        "bool", False, doc="kda layers' forget and output gates each one projection d_model -> "
                           "heads x head_dim (Ling 3's f_proj and g_proj), not Kimi's low-rank "
                           "pair through head_dim (counted, not built)")
    ssm_d_inner: int | None = _arch(
        "int?", None, min=1, doc="state-space (`mamba`, `mamba2`) layers: the width the "
                                 "selective scan runs over (expand x d_model)")
    ssm_d_state: int | None = _arch(
        "int?", None, min=1, doc="state-space layers: state per channel (Mamba's state_size "
                                 "16, Mamba-2's 128)")
    ssm_conv_kernel: int | None = _arch(
        "int?", None, min=1, doc="state-space layers: the causal depthwise convolution's kernel")
    ssm_dt_rank: int | None = _arch(
        "int?", None, min=1, doc="`mamba` layers: the low-rank time-step projection's width "
                                 "(ceil(d_model / 16) by default)")
    ssm_n_head: int | None = _arch(
        "int?", None, min=1, doc="`mamba2` layers: heads, each with a scalar decay, a step "
                                 "bias and a skip")
    ssm_n_group: int | None = _arch(
        "int?", None, min=1, doc="`mamba2` layers: groups of heads sharing B and C")
    ssm_proj_bias: bool = _arch(
        "bool", False, resolve=_when("has_ssm", lambda s: s.ssm_proj_bias),
        doc="state-space layers: biases on the input and output projections (use_bias)")
    ssm_conv_bias: bool = _arch(
        "bool", True, resolve=_when("has_ssm", lambda s: s.ssm_conv_bias),
        doc="state-space layers: a bias on the convolution (use_conv_bias)")
    ssm_inner_norms: bool = _arch(
        "bool", False, doc="`mamba` layers: RMSNorms of the time step, B and C (Jamba)")
    ssm_inner_norm_eps: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="`mamba` layers: RMSNorms without weights of the time step, B and C, with this "
            "epsilon (Falcon-Mamba's mixer_rms_eps); none when unset")
    lru_width: int | None = _arch(
        "int?", None, min=1, doc="`rglru` layers (RecurrentGemma): the recurrence's width, its "
                                 "gates block-diagonal over n_head blocks")
    lru_conv_kernel: int | None = _arch(
        "int?", None, min=1, doc="`rglru` layers: the depthwise convolution's kernel")
    rwkv_width: int | None = _arch(
        "int?", None, min=1, doc="`rwkv` layers: the time mix's width (attention_hidden_size); "
                                 "their MLP is RWKV's channel mix of d_ff")
    mlstm_qk_dim: int | None = _arch(
        "int?", None, min=1, doc="`mlstm` layers (xLSTM): the width of their queries and keys, "
                                 "over n_head heads")
    mlstm_v_dim: int | None = _arch(
        "int?", None, min=1, doc="`mlstm` layers: the width of their values and output gate")
    ssm_parallel: bool = _arch(
        "bool", False, doc="each attention layer has a `mamba2` mixer beside it, on the same "
                           "normed input, their outputs summed (Falcon-H1)")
    short_conv_kernel: int | None = _arch(
        "int?", None, min=1, doc="`short_conv` layers (LFM2): the gated depthwise "
                                 "convolution's kernel (conv_L_cache)")
    short_conv_bias: bool = _arch(
        "bool", False, doc="`short_conv` layers: biases on the projections and the convolution")
    ssm_gated_norm: bool = _arch(
        "bool", True, resolve=_when("has_ssm", lambda s: s.ssm_gated_norm),
        doc="`mamba2` layers: a gated RMSNorm over d_inner before the output projection")
    shared_blocks: int | None = _arch(
        "int?", None, min=1,
        doc="weight-tied transformer blocks invoked in turn on the layers shared_block_pattern "
            "marks (Zamba's one, Zamba2's num_mem_blocks): each invocation concatenates the "
            "residual with the token embedding (2 x d_model), normalises it, attends (n_head "
            "heads of d_head, n_kv_head keys, no bias) back to d_model, runs a gated MLP of "
            "d_ff after a second norm, and adds its output through a d_model x d_model linear "
            "of its own to the input of that layer's mixer; parameters once per block, compute "
            "and keys once per invocation")
    shared_block_pattern: tuple[bool, ...] = _arch(
        "bool_list", (False,), resolve=_when("shared_blocks", lambda s: s.layer_shared_block),
        doc="per-layer: a shared block runs before this layer's mixer, cycled")
    shared_adapter_rank: int | None = _arch(
        "int?", None, min=1,
        doc="shared blocks: each invocation's own low-rank (LoRA) adapter of this rank on the "
            "MLP's gate and up projections (d_model -> rank -> 2 x d_ff; Zamba2's adapter_rank)")
    shared_attention_adapters: bool = _arch(
        "bool", False, doc="shared blocks: each invocation's own adapters on q, k and v too "
                           "(2 x d_model -> rank -> 2 x d_model each; Zamba2's "
                           "use_shared_attention_adapter)")
    layer_runs: tuple[int, ...] = _arch(
        "int_list", (1,), min=1,
        doc="per-layer: how many times the layer runs for each token, cycled; a layer run "
            "more than once is a loop over weights counted once (Dory's recurrent section, "
            "n_recurrent_loops passes; HRM's low-level stack, H_cycles x L_cycles, and its "
            "high-level stack, H_cycles): every run passes through the layer's matrices "
            "(FLOPs) and keeps keys of its own (KV cache) unless cache_last_run_only")
    cache_last_run_only: bool = _arch(
        "bool", False,
        doc="a layer run more than once caches the keys of its last run only, the earlier runs "
            "reading that cache without writing it (Dory's recurrent_kv_cache_mode last_loop)")
    initial_state: bool = _arch(
        "bool", False,
        doc="a learned d_model vector the looped layers' state starts from (HRM's z_L_init, "
            "a parameter that never trains)")
    ngpt_scales: bool = _arch(
        "bool", False,
        doc="nGPT's learned scales (Dory): per layer the queries' sqk and the output gate's "
            "s_gate (q width each; the gate is attention_output_gate's, without a bias), the "
            "MLP's suv_gate and suv_up (d_ff each) and the residual rates lambda_1 and "
            "lambda_2 (d_model each), and the head's logit scale per token (vocab_size); "
            "counted, not built")
    scale_attention: bool = _arch(
        "bool", True, doc="scores scaled by 1/sqrt(d_head) (false: GPT-Neo's unscaled scores)")
    query_pre_attn_scalar: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="scores scaled by 1/sqrt(this) instead of 1/sqrt(d_head) (Gemma 2 and 3)")
    qk_norm: str = _arch(
        "enum", "none", choices=QK_NORMS,
        doc="RMSNorm of q and k before rotary: `head` (over each head: Qwen3, Gemma 3) or "
            "`projection` (over all heads at once: OLMo 2); `l2`: each head RMS-normalised "
            "without a weight, on rotary layers only (Llama 4's use_qk_norm); `each_head`: a "
            "LayerNorm without bias over each head, a scale per head and dim (Command R+); "
            "`head_layernorm`: a LayerNorm with bias over each head, shared by the heads "
            "(Persimmon); `scaled_clip`: each query head scaled by a "
            "learned scale per head and dim, then its L2 norm clipped (n_head x d_head), keys "
            "clipped without a weight, and with relative_bias_rank the relative states scaled "
            "likewise (n_head x rank: Inkling 2; counted, not built)")
    attn_softcap: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="attention scores soft-capped: c tanh(s / c) (Gemma 2's 50)")
    qkv_clip: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="q, k and v clamped to [-c, c] after their projection (OLMo 1's clip_qkv)")
    attention_output_gate: bool = _arch(
        "bool", False, doc="the attention output gated per query dim by sigmoid(x W_g), W_g "
                           "stored beside the query projection (Qwen3-Next's doubled q_proj); "
                           "under latent attention, with q_up_raw_latent its rows beside the "
                           "query up-projection's (A.X K2's q_gate_proj), else a projection of "
                           "its own, d_model -> n_head x d_head_v (HY-V4's gate_proj), gating "
                           "each value dim (counted, not built)")
    attention_gate_bias: bool = _arch(
        "bool", False, doc="the attention output gate has a learned bias per head, shared by "
                           "the head's dims (Beam's gate_bias: n_head parameters a layer; "
                           "counted, not built)")
    attention_experts: bool = _arch(
        "bool", False, doc="a mixture of attention heads (JetMoE): each of the n_experts experts "
                           "holds a query and an output projection of n_kv_head x d_head, "
                           "experts_per_token of them per token (n_head = n_kv_head x "
                           "experts_per_token), beside one key/value projection, a router and "
                           "an output bias of d_model; the MoE MLPs' output has a d_model bias "
                           "too (counted, not built)")
    attention_head_gate: bool = _arch(
        "bool", False, doc="the attention output gated per head by a learned d_model -> "
                           "n_head projection, no bias (Laguna's and LFM3's per-head g_proj; "
                           "under latent attention Ling 3's and dots3's; counted, not built)")
    attention_sinks: bool = _arch(
        "bool", False, doc="a learned logit per head added to the softmax's denominator "
                           "(gpt-oss; under latent attention HY-V4's, counted, not built)")
    local_sinks: bool = _arch(
        "bool", False, doc="a learned logit per head added to the softmax's denominator on the "
                           "local layers only (MiMo-V2-Flash; counted, not built)")
    sink_projection: bool = _arch(
        "bool", False, doc="a sink logit per head and token added to the softmax's "
                           "denominator, projected from the layer's input (d_model -> n_head, "
                           "no bias: Inkling 2's sink_proj; counted, not built)")
    relative_bias_rank: int | None = _arch(
        "int?", None, min=1,
        doc="a relative position bias read from the hidden states (Inkling's d_rel): per "
            "layer a d_model -> n_head x rank projection (no bias) whose states mix a learned "
            "rank x extent bank of bias-by-distance profiles, extent local_window on local "
            "layers and relative_bias_extent on global ones; counted, not built")
    relative_bias_extent: int | None = _arch(
        "int?", None, min=1, resolve=_when("relative_bias_rank",
                                           lambda s: s.relative_bias_extent),
        doc="relative_bias_rank: backward distances the global layers' bias covers "
            "(Inkling's rel_extent)")
    kv_conv_kernel: int | None = _arch(
        "int?", None, min=1,
        doc="keys and values each through a causal depthwise convolution of this kernel "
            "after their projection, no bias, added to its input (Inkling's k_sconv and "
            "v_sconv: the kv width x kernel each); counted, not built")
    kv_conv_dynamic: bool = _arch(
        "bool", False,
        doc="kv_conv_kernel: on global layers the taps are the static ones plus taps "
            "projected per token from the key's (value's) input, d_model -> kv heads x kernel "
            "each, no bias (Inkling 2's dynamic short convolution)")
    sublayer_conv_kernel: int | None = _arch(
        "int?", None, min=1,
        doc="each sublayer's output (attention's, MLP's) through a causal depthwise "
            "convolution of this kernel over d_model, no bias, added to its input, before the "
            "residual sum (Inkling's attn_sconv and mlp_sconv); counted, not built")
    block_attention_residuals: bool = _arch(
        "bool", False,
        doc="attention residuals over blocks (Inkling 2's n_layers_per_attn_res_block): each "
            "sublayer's input is a softmax over the earlier blocks' states and the running "
            "one (weightless RMSNorm), with a learned d_model query: one before each MLP, one "
            "before each attention but the first layer's (three on global layers, for q, k "
            "and v, each with an input norm of its own), one before the final norm; counted, "
            "not built")
    loop_gate_rank: int | None = _arch(
        "int?", None, min=1,
        doc="looped layers (layer_runs) after their first pass mix in messages read from the "
            "previous pass's blocks by learned d_model queries (four per looped layer: q, k, "
            "v and the MLP's input), each through a gate 2 x d_model -> rank -> two d_model "
            "gates, no bias (Inkling 2 Loop's message gates); counted, not built")
    dynamic_mask: bool = _arch(
        "bool", False, doc="Doge's dynamic mask: a learned decay per key/value head and a "
                           "projection of the values to one step per key/value head (its bias "
                           "with qkv_bias) shape the scores; counted, not built")
    residual_scales: bool = _arch(
        "bool", False, doc="each sublayer's residual sum weighted by a learned d_model vector: "
                           "Doge's input_residual and post_attention_residual scale the "
                           "residual; Ergo's residual gates mix the sublayer's output and the "
                           "residual by sigmoid(w) and sqrt(1 + sigmoid(w)) exp(-softplus(w) / "
                           "2) (counted, not built)")
    residual_affine: bool = _arch(
        "bool", False, doc="each sublayer's output and the residual it joins each shifted and "
                           "scaled by learned d_model vectors before their sum (4 x d_model a "
                           "sublayer), and the token embedding likewise (2 x d_model; Zaya's "
                           "ZayaResidualScaling and input_hidden_states_scale and _bias; "
                           "counted, not built)")
    cca_depthwise_kernel: int | None = _arch(
        "int?", None, min=1,
        doc="Compressed Convolutional Attention (Zaya's CCA): q and k (n_head + n_kv_head heads "
            "of d_head) mixed over time by a depthwise causal convolution of this kernel "
            "(cca_time0), then one grouped by head of cca_grouped_kernel, both with biases, "
            "and added to their projections; half of each value head projected from the "
            "current token, half from the previous one; a learned key scale per kv head. Each "
            "layer keeps, beside its keys, the convolutions' last (kernel - 1) + (grouped "
            "kernel - 1) q/k inputs and the previous token's delayed half values (counted, "
            "not built)")
    cca_grouped_kernel: int | None = _arch(
        "int?", None, min=1, doc="CCA: the kernel of the convolution grouped by head "
                                 "(cca_time1)")
    differential_attention: bool = _arch(
        "bool", False, doc="differential attention (DiffLlama): query heads paired with those "
                           "n_head / 2 further, each attending to the two halves of the value "
                           "heads side by side, the second of a pair subtracted times "
                           "exp(lq1.lk1) - exp(lq2.lk2) + l0 (four learned head-width vectors "
                           "per layer; l0 = 0.8 - 0.6 exp(-0.3 layer)), RMS-normalised without "
                           "a weight over 2 d_head, times 1 - l0; n_kv_head even")
    kv_lora_rank: int | None = _arch(
        "int?", None, min=1, doc="multi-head latent attention (DeepSeek): keys and values come "
                                 "from a latent of this width, which is what the cache holds")
    global_kv_lora_rank: int | None = _arch(
        "int?", None, min=1, resolve=_when("has_global", lambda s: s.global_latent),
        doc="latent attention: the key/value latent of the global layers when it differs from "
            "kv_lora_rank (dots3's indexed layers: 512 beside the sliding layers' 1024; "
            "counted, not built)")
    rope_key_norm: bool = _arch(
        "bool", False, doc="latent attention: the one shared rotated key RMS-normalised (a "
                           "d_head_rope weight a layer: dots3's k_rope_only_layernorm; "
                           "counted, not built)")
    q_lora_rank: int | None = _arch("int?", None, min=1,
                                    doc="latent attention: queries through a latent of this width")
    latent_norm_eps: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        resolve=lambda s: s.latent_eps if s.latent else None,
        doc="latent attention: the epsilon of the q and kv latents' RMSNorms where it is not "
            "norm_eps (MiniCPM3's and Youtu's classes: 1e-6 whatever rms_norm_eps)")
    q_up_raw_latent: bool = _arch(
        "bool", False, doc="latent attention: the query up-projection reads the query latent "
                           "before its norm beside it after, concatenated (2 x q_lora_rank "
                           "wide: A.X K2's q_gate_proj); counted, not built")
    d_head_rope: int | None = _arch(
        "int?", None, min=1, doc="latent attention: the rotated part of each q and k head (one "
                                 "rotated key shared by all heads); d_head is the whole q/k head")
    d_head_v: int | None = _arch(
        "int?", None, min=1,
        doc="the width of each value head: latent attention's, or another attention's value "
            "heads narrower or wider than its q/k heads (MiMo-V2-Flash; counted, not built)")
    indexer_heads: int | None = _arch(
        "int?", None, min=1, doc="DeepSeek-V3.2's sparse attention: the heads of the indexer "
                                 "that picks the keys each query attends to (index_n_heads); "
                                 "on `block_sparse` layers its query heads, one key head; "
                                 "under latent attention none on local layers (dots3's "
                                 "sliding layers attend to their window)")
    indexer_head_dim: int | None = _arch(
        "int?", None, min=1, doc="sparse attention: the width of the indexer's heads and of "
                                 "its one cached key per token (index_head_dim)")
    indexer_pattern: tuple[bool, ...] = _arch(
        "bool_list", (True,),
        resolve=lambda s: s.layer_indexer_shared if s.sparse_attention and s.latent else None,
        doc="latent attention with an indexer: per layer, whether it runs an indexer of its own "
            "(true) or reuses the keys the last earlier indexer picked (false: no indexer "
            "weights, no indexer key cached; HY-V4's indexer_types 'shared'; counted, not "
            "built), cycled; the first layer has its own")
    sparse_compress_rate: int | None = _arch(
        "int?", None, min=1, doc="`compressed_sparse` layers (DeepSeek-V4's CSA): tokens folded "
                                 "into each compressed entry, from two overlapping series "
                                 "(compress_rates' 4)")
    heavy_compress_rate: int | None = _arch(
        "int?", None, min=1, doc="`heavily_compressed` layers (DeepSeek-V4's HCA): tokens "
                                 "folded into each compressed entry (compress_rates' 128)")
    output_groups: int | None = _arch(
        "int?", None, min=1, doc="DeepSeek-V4's grouped output projection: the heads in this "
                                 "many groups, each projected to output_rank (o_groups)")
    output_rank: int | None = _arch(
        "int?", None, min=1, doc="the grouped output projection's width per group, the groups "
                                 "then mixed to d_model (o_lora_rank)")
    hyper_connections: int | None = _arch(
        "int?", None, min=1,
        doc="hyper-connections (DeepSeek-V4's and HY-V4's hc_mult): this many residual "
            "streams, each sublayer reading and writing them through a learned mixing of the "
            "hyper_connection_form, the head reading them through an n x n d_model one with n "
            "biases and a scale; counted, not built")
    hyper_connection_form: str = _arch(
        "enum", "manifold", choices=HYPER_CONNECTION_FORMS,
        resolve=lambda s: s.hyper_connection_form if s.hyper_connections else None,
        doc="each sublayer's hyper-connection mixing: `manifold` (DeepSeek-V4's mHC: a (2 + n) "
            "n x n d_model matrix, (2 + n) n biases and 3 scales, for the read and write gates "
            "and a Sinkhorn-normalised n x n mixing of the streams) or `independent` (HY-V4's "
            "iHC: a 2n x n d_model matrix, 2n biases and 2 scales, the read and write gates "
            "alone)")
    indexed_keys: int | None = _arch(
        "int?", None, min=1,
        doc="`indexed` layers: the most keys one query attends to, of all it could see: the "
            "indexer's index_topk best, the first index_num_sink_tokens and the last "
            "index_num_local_tokens (Kolibri 1.1's 2048 + 8 + 128); caps their attention "
            "FLOPs, not their cache")
    indexer_topk: int | None = _arch(
        "int?", None, min=1, doc="sparse attention: the keys each query attends to, the "
                                 "indexer's best (index_topk; `block_sparse`: at most "
                                 "index_topk_blocks x index_block_size)")

    # positions
    position: str = _arch("enum", "learned", choices=POSITIONS,
                          doc="learned / rotary / alibi / sinusoidal (fixed sines and cosines "
                              "added to the embedding, no parameters) / none")
    position_offset: int = _arch(
        "int", 0, min=0, doc="positions counted from this index: OPT's and BioGPT's learned "
                             "offset of 2, XGLM's sinusoidal one")
    sinusoid_style: str = _arch(
        "enum", "fairseq", choices=SINUSOID_STYLES,
        resolve=lambda s: s.sinusoid_style if s.position == "sinusoidal" else None,
        doc="sinusoidal positions, computed in fp32 and cast to the embedding's dtype: "
            "`fairseq` (tensor2tensor's, XGLM: frequencies exp(-i ln(10000) / (d/2 - 1)), the "
            "sines then the cosines, a zero column for an odd d) or `vaswani` (the paper's "
            "frequencies 10000^(-2i/d), CTRL: the sines of the even columns' angles, then the "
            "cosines of the odd ones')")
    rotary_fraction: float = _arch(
        "float", 1.0, min=0.0, min_exclusive=True, max=1.0,
        resolve=_when("rotary", lambda s: s.rotary_dim),
        doc="share of each head that is rotated (GPT-NeoX 0.25)")
    rotary_style: str = _arch(
        "enum", "half", choices=ROTARY_STYLES, resolve=_when("rotary", lambda s: s.rotary_style),
        doc="`half` pairs (NeoX, LLaMA), GPT-J's `interleaved` pairs, or `half_reversed`: half "
            "pairs turned the other way, (a cos + b sin, b cos - a sin) (NanoChat's rotate_half)")
    rope_theta: float = _arch(
        "float", 10000.0, min=0.0, min_exclusive=True,
        resolve=_when("rotary", lambda s: s.rope_theta), doc="rotary base")
    rope_scaling: RopeScaling | None = _arch(
        "nested?", None, cls=RopeScaling, resolve=_when("rotary", lambda s: s.rope_scaling),
        doc="`{type, factor, ...}`: frequencies stretched for a longer context (Llama 3.1's "
            "llama3, Gemma 3's linear, yarn); on global layers when local ones have their own base")
    local_rope_theta: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        resolve=_when("rotary", lambda s: s.local_rope_theta),
        doc="rotary base of the local layers, unscaled (Gemma 3's 10,000); default: as global")
    global_rotary_fraction: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True, max=1.0,
        resolve=_when("rotary", lambda s: s.global_rotary_fraction),
        doc="global layers' proportional RoPE (Gemma 4's 0.25): this share of each head's "
            "frequency pairs rotates at theta^(-2i / d_head), the others not at all")
    rotary_pattern: tuple[bool, ...] = _arch(
        "bool_list", (True,), resolve=_when("rotary", lambda s: s.layer_rotary),
        doc="per-layer rotary on / off, cycled (SmolLM3's no-position layers)")
    temperature_floor: int | None = _arch(
        "int?", None, min=1,
        doc="attention temperature tuning: each query scaled by 1 + temperature_scale x log(1 + "
            "floor((position + 1) / this)) on the layers without rotary (Llama 4's "
            "floor_scale), or as temperature_form says")
    temperature_scale: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="attention temperature tuning's strength (Llama 4's attn_scale)")
    temperature_form: str = _arch(
        "enum", "nope_layers", choices=TEMPERATURE_FORMS,
        resolve=_when("temperature_tuning", lambda s: s.temperature_form),
        doc="temperature tuning's layers and steps: `nope_layers` (Llama 4: the layers without "
            "rotary, floor((position + 1) / floor)) or `all_layers` (Mistral's "
            "llama_4_scaling_beta, Ministral 3: every layer, floor(position / floor) with "
            "floor its original_max_position_embeddings, the scale cast to the queries' dtype "
            "before it multiplies them)")

    # block structure
    norm: str = _arch("enum", "layernorm", choices=NORMS,
                      doc="`layernorm` (weight and bias), `rmsnorm`, `nonparametric_layernorm` "
                          "(no weight, no bias: OLMo 1), `weightless_rmsnorm` (RMSNorm "
                          "without a weight, in fp32: NanoChat, HRM) or `l2` (onto the unit "
                          "sphere, no weight: Dory's nGPT; counted, not built)")
    norm_eps: float = _arch("float", 1e-5, min=0.0, min_exclusive=True, doc="norm epsilon")
    norm_bias: bool = _arch(
        "bool", True, resolve=lambda s: s.norm_bias if s.norm == "layernorm" else None,
        doc="LayerNorm has a bias (false: a scale only, Cohere's Command R)")
    norm_position: str = _arch(
        "enum", "pre", choices=NORM_POSITIONS,
        doc="`pre` (GPT-2 and most since), `post` (after the residual sum: GPT-1, OPT-350M), "
            "`sandwich` (before and after each sublayer: Gemma 2 and 3), `output` (on each "
            "sublayer's output only: OLMo 2)")
    final_norm: bool = _arch("bool", True, doc="a norm after the last block")
    norm_unit_offset: bool = _arch("bool", False,
                                   doc="RMSNorm scales by (1 + w), computed in fp32 (Gemma)")
    norm_fp32_scale: bool = _arch(
        "bool", False, doc="RMSNorm's weight multiplies the normalised values in fp32, before "
                           "the cast back to the input's dtype (Helium; LLaMA multiplies after "
                           "the cast)")
    embedding_norm: bool = _arch("bool", False, doc="BLOOM's norm after the token embedding")
    sub_norms: bool = _arch(
        "bool", False, doc="a norm over the attention's output before its projection and one "
                           "over the MLP's hidden before its down projection (BitNet's "
                           "attn_sub_norm and ffn_sub_norm; counted, not built)")
    gated_norm_rank: int | None = _arch(
        "int?", None, min=1,
        doc="each layer's first norm, and its second on MoE layers, multiplied by a sigmoid "
            "gate of its own output through d_model -> rank -> d_model, SiLU between, no "
            "biases (A.X K2's gated_norm_rank); counted, not built")
    moe_output_norm: bool = _arch(
        "bool", False, doc="a norm over each MoE layer's output (routed and shared experts "
                           "summed) before the residual sum (A.X K1's post_mlp_layernorm); "
                           "counted, not built")
    block: str = _arch(
        "enum", "sequential", choices=BLOCKS,
        doc="`sequential`, `parallel` (one shared norm: GPT-J, Falcon-7B) or "
            "`parallel_two_norms` (NeoX, Falcon-40B)")
    activation: str = _arch(
        "enum", "gelu", choices=ACTIVATIONS,
        doc="`gelu`, `gelu_tanh`, `relu`, `relu2` (squared ReLU: Arcee), `silu`; gated: "
            "`swiglu` (SiLU gate), `geglu` (tanh-GELU gate: Gemma); `xielu` (Apertus: two "
            "learned scalars per MLP, and its beta and eps stored; with experts counted, not "
            "built)")
    bias: bool = _arch("bool", True, resolve=lambda s: None,  # resolved into the three below:
                       doc="biases in attention and MLP, unless a per-part switch says otherwise")
    qkv_bias: bool | None = _arch("bool?", None, resolve=lambda s: s.has_bias("qkv"),
                                  doc="bias of the q, k, v projections (default `bias`)")
    attn_out_bias: bool | None = _arch("bool?", None, resolve=lambda s: s.has_bias("attn_out"),
                                       doc="bias of the attention output (default `bias`)")
    mlp_bias: bool | None = _arch("bool?", None, resolve=lambda s: s.has_bias("mlp"),
                                  doc="biases of the MLP (default `bias`)")
    last_attn_out_bias: bool = _arch(
        "bool", False, doc="the last layer's attention output alone has a bias (GPT-NeoX "
                           "Japanese's dense_bias)")

    # mixture of experts
    n_experts: int | None = _arch("int?", None, min=1,
                                  doc="routed experts per MoE layer (absent: a dense model)")
    experts_per_token: int | None = _arch("int?", None, min=1,
                                          doc="routed experts each token goes through")
    d_ff_expert: int | None = _arch("int?", None, min=1,
                                    doc="hidden width of each expert (default d_ff)")
    zero_experts: int = _arch(
        "int", 0, min=0,
        doc="zero-computation experts beside the n_experts (LongCat-Flash's zero_expert_num; "
            "Zaya's one skip expert, which adds nothing): the router scores both kinds, and a "
            "token sent to one of these passes through unchanged, with no weights; the active "
            "figures count experts_per_token real experts, the most a token uses (counted, "
            "not built)")
    n_shared_experts: int = _arch(
        "int", 0, min=0, doc="experts every token goes through (DeepSeek), one MLP of their "
                             "combined width")
    first_dense_layers: int = _arch(
        "int", 0, min=0, resolve=lambda s: None,  # resolved into mlp_pattern's layer_moe
        doc="layers before the first MoE layer, with a dense MLP of d_ff "
            "(DeepSeek's first_k_dense_replace)")
    mlp_pattern: tuple[str, ...] = _arch(
        "enum_list", ("moe",), choices=MLP_KINDS,
        resolve=lambda s: s.layer_mlp if "none" in s.mlp_pattern else
        (s.layer_moe if s.moe else None),
        doc="per-layer `dense` (an MLP of d_ff) / `moe` MLPs, or `none` (a block without an "
            "MLP: Mamba, Nemotron-H), cycled over the layers after first_dense_layers "
            "(Qwen2-MoE's decoder_sparse_step 2 and Llama 4 Maverick's interleaving: "
            "[dense, moe])")
    d_ff_shared: int | None = _arch(
        "int?", None, min=1, resolve=_when("moe", lambda s: s.shared_width),
        doc="hidden width of the shared experts' MLP (default n_shared_experts x the expert "
            "width; Qwen2-MoE's shared_expert_intermediate_size)")
    shared_expert_gate: bool = _arch(
        "bool", False, doc="the shared experts' output scaled by sigmoid(a learned d_model "
                           "vector . x) (Qwen2-MoE, Qwen3-Next)")
    shared_expert_average: bool = _arch(
        "bool", False, doc="the routed and the shared experts' outputs averaged, not summed "
                           "(Cohere 2 MoE's shared_expert_combination_strategy 'average')")
    expert_output_norms: bool = _arch(
        "bool", False, doc="each routed expert's output RMS-normalised with a d_model weight of "
                           "its own (n_experts x d_model a layer, a token using its chosen "
                           "experts' rows), and the shared experts' with one d_model weight "
                           "(Ergo's post_expert_norm and shared norm; counted, not built)")
    router_scoring: str = _arch("enum", "softmax", choices=ROUTER_SCORES,
                                doc="expert scores: `softmax`, `sigmoid` (DeepSeek-V3), "
                                    "`sqrtsoftplus` (DeepSeek-V4; counted, not built) or "
                                    "`sparsemixer` (PhiMoE at inference: two experts, each "
                                    "weighted by a softmax over the logits near its own)")
    router_jitter: float | None = _arch(
        "float?", None, min=0.0,
        doc="sparsemixer: the best expert, then the best of the rest, each weighted by a "
            "softmax over the experts whose logit trails its own by at most 2 x this, relative "
            "to the larger of that logit's magnitude and its own (PhiMoE's router_jitter_noise, "
            "0.01)")
    router_normalize: bool = _arch("bool", True,
                                   doc="the chosen experts' weights renormalised to sum to 1")
    router_bias: bool = _arch("bool", False, doc="a learned bias in the router (gpt-oss)")
    router_scales_input: bool = _arch(
        "bool", False, doc="each chosen expert's weight scales its input, not its output "
                           "(Llama 4)")
    routing_bias: bool = _arch(
        "bool", False, doc="a per-expert bias that steers the choice but not the weights "
                           "(DeepSeek-V3's e_score_correction_bias: a buffer, not a parameter)")
    routing_bias_parameter: bool = _arch(
        "bool", False, doc="the routing bias is a parameter, counted with the router (ERNIE 4.5's "
                           "moe_statics), not a buffer")
    routed_scaling: float = _arch("float", 1.0, min=0.0, min_exclusive=True,
                                  doc="the routed experts' output scaled by this (DeepSeek 2.5)")
    expert_groups: int | None = _arch(
        "int?", None, min=1, doc="group-limited routing: experts in this many groups, each "
                                 "scored by its top two (DeepSeek-V3)")
    expert_groups_per_token: int | None = _arch(
        "int?", None, min=1, doc="group-limited routing: the groups a token may choose from")
    dense_mlp_with_experts: bool = _arch(
        "bool", False, doc="each MoE layer keeps a dense MLP of d_ff beside its routed experts, "
                           "the two outputs normalised apart and summed (Gemma 4's "
                           "enable_moe_block); sandwich norms add three norms per layer, pre "
                           "norms none: both read the one normalised input (LongCat-Flash; "
                           "counted, not built)")
    router_mlp_width: int | None = _arch(
        "int?", None, min=1,
        doc="the router an MLP (Zaya's): d_model -> this width with a bias, plus (every MoE "
            "layer but the first) the previous router's state times a learned vector of this "
            "width, an RMSNorm, two GELU layers of this width with biases, then a score per "
            "expert, zero experts included, without a bias; counted, not built")
    router_scores_shared: bool = _arch(
        "bool", False,
        doc="the router scores the shared experts beside the routed ones (a row each: d_model "
            "x (n_experts + n_shared_experts)), their softmax weights a sink (Inkling's "
            "shared_expert_sink); counted, not built")
    scalar_gains: bool = _arch(
        "bool", False,
        doc="a learned scalar on each dense MLP's output and on each router's weights "
            "(Inkling's global_scale); counted, not built")
    router_scales: bool = _arch(
        "bool", False, doc="the router sees its input RMS-normalised times a learned d_model "
                           "vector / sqrt(d_model), and a learned per-expert scale multiplies "
                           "the chosen weights (Gemma 4)")
    expert_group_score: str = _arch(
        "enum", "top2", choices=GROUP_SCORES,
        resolve=lambda s: s.expert_group_score if s.expert_groups is not None else None,
        doc="group-limited routing: a group scored by its two best experts' sum (`top2`: "
            "DeepSeek-V3) or by its best expert (`max`: DeepSeek-V2's group_limited_greedy)")
    swiglu_limit: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="clamped_swiglu: the clamp of gate and up (gpt-oss's 7.0)")

    # embeddings and head
    tie_embeddings: bool = _arch("bool", True, doc="the output head is the token embedding")
    head_bias: bool = _arch("bool", False, doc="GPT-J's output-head bias")
    scale_embeddings: bool = _arch(
        "bool", False, doc="embeddings multiplied by sqrt(d_model), in their dtype (Gemma)")
    final_softcap: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="final logits soft-capped: c tanh(z / c) (Gemma 2's 30)")
    embed_dim: int | None = _arch(
        "int?", None, min=1, resolve=lambda s: s.embed_width,
        doc="OPT-350M's token-embedding width, projected to and from d_model")
    extra_embedding_rows: int = _arch(
        "int", 0, min=0,
        doc="rows of the token embedding beyond vocab_size, for tokens the head never predicts "
            "(Mllama's 8, its <|image|> token among them; Moshi's 1)")

    per_layer_embed_dim: int | None = _arch(
        "int?", None, min=1,
        doc="per-layer input embeddings (Gemma 4 E2B/E4B's hidden_size_per_layer_input): a "
            "table of n_layer x this per token, and a projection of the embedding to it, feed "
            "each layer a gated residual input")
    per_layer_vocab: int | None = _arch(
        "int?", None, min=1,
        resolve=_when("per_layer_embed_dim", lambda s: s.per_layer_vocab_size),
        doc="rows of the per-layer embedding table (default vocab_size)")
    double_wide_shared_mlp: bool = _arch(
        "bool", False, doc="the kv_shared_layers' MLPs are 2 x d_ff wide (Gemma 4 E2B's "
                           "use_double_wide_mlp)")
    altup_streams: int | None = _arch(
        "int?", None, min=1,
        doc="AltUp (alternating updates, Gemma 3n's altup_num_inputs): this many d_model "
            "residual streams, the extra ones made from the embedding by n - 1 d_model x "
            "d_model projections and folded back by n - 1 more before the final norm; each "
            "layer runs on one stream, predicting all from all before it and correcting them "
            "after, through coefficients (n x n^2 and n x n) a router chooses per token (an "
            "RMSNorm and d_model x n, run at both steps), and scales the corrected stream by a "
            "d_model vector; counted, not built")
    laurel_rank: int | None = _arch(
        "int?", None, min=1,
        doc="LAuReL (Gemma 3n's laurel_rank): a low-rank residual branch beside each layer's "
            "attention, d_model -> rank -> d_model then an RMSNorm of d_model, added to its "
            "output; counted, not built")
    target_width: int | None = _arch(
        "int?", None, min=1,
        doc="an assistant (a drafter beside a target model this wide, Gemma 4's assistant's "
            "backbone_hidden_size): its input, the target's embedding and last hidden state "
            "side by side, projected 2 x this -> d_model, its output d_model -> this; its "
            "kv_shared_layers may be all n_layer, attending to the target's keys and values "
            "(no cache of its own); counted, not built")
    head_centroids: int | None = _arch(
        "int?", None, min=1,
        doc="a d_model x this matrix scores vocabulary clusters, and only the best clusters' "
            "rows of the head are multiplied (Gemma 4's assistant's use_ordered_embeddings, "
            "num_centroids; the token order is a buffer); counted, not built")
    head_transform: str = _arch(
        "enum", "none", choices=HEAD_TRANSFORMS,
        doc="before the head, BERT's prediction head: a d_model x d_model dense (`dense`; "
            "`dense_bias` with its bias), the activation and a norm (ModernBERT decoder's "
            "lm_head, its bias classifier_bias); counted, not built")
    first_attn_norm: bool = _arch(
        "bool", True, doc="false: the first layer has no norm before its attention, the "
                          "embedding norm standing in (ModernBERT decoder); counted, not built")
    segment_types: int | None = _arch(
        "int?", None, min=1,
        doc="CPM-Ant's segments: an embedding of this many rows x d_model added to the "
            "tokens, and this squared rows of the relative bias table (a bias per head for "
            "each query and key segment pair); counted, not built")
    cached_prefix: int = _arch(
        "int", 0, min=0,
        doc="positions each sequence's cache holds before its own tokens, which every query "
            "attends to (CPM-Ant's prompt_length prompt tokens, prepended by the model); "
            "counted, not built")
    relative_bias_buckets: int | None = _arch(
        "int?", None, min=1,
        doc="a bucketed relative position bias shared by all layers: a table of this many "
            "rows x n_head, looked up by each query-key distance's bucket (CPM-Ant's "
            "position_bias_num_buckets); counted, not built")

    # multipliers (muP-style scalars: no parameters)
    embedding_multiplier: float = _arch(
        "float", 1.0, min=0.0, min_exclusive=True,
        doc="token embeddings multiplied by this (Granite's embedding_multiplier)")
    residual_multiplier: float = _arch(
        "float", 1.0, min=0.0, min_exclusive=True,
        doc="each sublayer's output multiplied by this before the residual sum (Granite)")
    layer_scalar: bool = _arch(
        "bool", False, doc="each block's output multiplied by a stored one-element buffer "
                           "(Gemma 4's layer_scalar: in the checkpoint, not a parameter)")
    attention_multiplier: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="scores scaled by this instead of 1/sqrt(d_head) (Granite's attention_multiplier)")
    logit_scale: float = _arch(
        "float", 1.0, min=0.0, min_exclusive=True,
        doc="final logits multiplied by this (Command R's logit_scale; Granite's 1 / "
            "logits_scaling)")

    # provenance
    title: str = _provenance("str", "", doc="the family's full name", family_level=True)
    org: str = _provenance("str", "", doc="who made it", family_level=True)
    year: int | None = _provenance("int?", None, min=1900, doc="year of release",
                                   family_level=True)
    paper: str = _provenance("str", "", doc="the paper that describes it", family_level=True)
    license: str = _provenance("str", "", doc="licence of the weights", family_level=True)
    hparams_source: str = _provenance("str", "", family_level=True,
                                      doc="where the hyperparameters come from")
    reported: Reported | None = _provenance(
        "nested?", None, cls=Reported,
        doc="`{params, source, exact}`: the size its source states")
    weights: Weights = _provenance(
        "nested", Weights(), cls=Weights,
        doc="`{hf: org/name, model_type}`: where public weights live")
    counted_only: str = _provenance(
        "str", "", doc="why zoo counts this model exactly but does not build it (an "
        "architecture or a setting the decoder does not implement); empty: it builds")
    part_of: str = _provenance(
        "str", "", doc="what the counted model is a part of, when its checkpoint holds more (an "
        "image-text model's vision tower): every figure is this part's, and show, plan and "
        "--json say so; empty: the whole checkpoint")
    rest_params: int | None = _provenance(
        "int?", None, min=0, doc="with `part_of`, the parameters of the rest of the checkpoint "
        "(towers, projector) by their own closed form: the whole checkpoint is the total plus "
        "these; empty: not counted")
    notes: tuple[str, ...] = _provenance("str_list", (), accumulate=True,
                                         doc="facts a reader should know (sources that differ)")
    unpublished: tuple[str, ...] = _provenance(
        "str_list", (), accumulate=True,
        doc="fields whose values are assumed, not published")
    asserts: tuple[str, ...] = _provenance(
        "enum_set", (), choices=ASSERTIONS,
        doc="relations the source asserts (GPT-3: GPT-2's architecture, so n_head x d_head = "
            "d_model); zoo verify reports a spec that breaks them as internally inconsistent")
    # where a spec was read from is not part of what it is: equal specs from two files are equal
    source_file: str = field(default="", compare=False)

    # --- derived geometry: one place, so model and accounting cannot disagree ---
    @property
    def latent(self) -> bool:
        """Multi-head latent attention (DeepSeek)."""
        return self.kv_lora_rank is not None

    @property
    def sparse_attention(self) -> bool:
        """DeepSeek-V3.2's indexer picks the keys each query attends to."""
        return self.indexer_heads is not None

    @cached_property
    def layer_indexer_shared(self) -> tuple[bool, ...]:
        """Whether each layer reuses the keys an earlier layer's indexer picked, with no indexer
        of its own: where indexer_pattern, cycled over the depth, says false (none without a
        latent attention's indexer)."""
        if not (self.sparse_attention and self.latent):
            return (False,) * self.n_layer
        pattern = self.indexer_pattern
        return tuple(not pattern[i % len(pattern)] for i in range(self.n_layer))

    @property
    def compressed(self) -> bool:
        """DeepSeek-V4's attention (`zoo.accounting.compressed`) on some layers."""
        return any(kind in COMPRESSED_KINDS for kind in self.attention_pattern)

    @property
    def moe(self) -> bool:
        return self.n_experts is not None

    @property
    def expert_width(self) -> int:
        return self.d_ff_expert if self.d_ff_expert is not None else self.d_ff

    @cached_property
    def layer_moe(self) -> tuple[bool, ...]:
        """Whether each layer's MLP is a mixture of experts: none before first_dense_layers,
        then as mlp_pattern cycles."""
        pattern = self.mlp_pattern
        return tuple(self.moe and i >= self.first_dense_layers
                     and pattern[i % len(pattern)] == "moe" for i in range(self.n_layer))

    @cached_property
    def layer_mlp(self) -> tuple[str, ...]:
        """Each layer's MLP: `dense`, `moe`, or `none` where mlp_pattern leaves it out."""
        pattern = self.mlp_pattern
        return tuple("moe" if moe else "none" if i >= self.first_dense_layers
                     and pattern[i % len(pattern)] == "none" else "dense"
                     for i, moe in enumerate(self.layer_moe))

    @property
    def shared_width(self) -> int | None:
        """Hidden width of the shared experts' MLP; None without shared experts."""
        if not self.n_shared_experts:
            return None
        return self.d_ff_shared if self.d_ff_shared is not None else \
            self.n_shared_experts * self.expert_width

    @property
    def v_dim(self) -> int:
        """Width of all value heads together (the attention output's input)."""
        return self.n_head * (self.d_head_v if self.d_head_v is not None else self.head_dim)

    @property
    def head_dim(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head if self.n_kv_head is not None else self.n_head

    @property
    def q_dim(self) -> int:
        return self.n_head * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def rotary(self) -> bool:
        return self.position == "rotary"

    @property
    def has_global(self) -> bool:
        return "global" in self.layer_kinds

    @property
    def global_head_dim(self) -> int:
        return self.global_d_head if self.global_d_head is not None else self.head_dim

    @property
    def global_kv(self) -> int:
        return self.global_kv_heads if self.global_kv_heads is not None else self.kv_heads

    @property
    def global_heads(self) -> int:
        return self.global_n_head if self.global_n_head is not None else self.n_head

    @property
    def global_latent(self) -> int | None:
        return self.global_kv_lora_rank if self.global_kv_lora_rank is not None \
            else self.kv_lora_rank

    @property
    def per_layer_vocab_size(self) -> int:
        return self.per_layer_vocab if self.per_layer_vocab is not None else self.vocab_size

    @cached_property
    def layer_kv_shared(self) -> tuple[bool, ...]:
        """Whether each layer reuses an earlier layer's keys and values: the last
        kv_shared_layers, and where kv_shared_pattern, cycled over the depth, says true."""
        first, pattern = self.n_layer - self.kv_shared_layers, self.kv_shared_pattern
        return tuple(i >= first or pattern[i % len(pattern)] for i in range(self.n_layer))

    def layer_head_dim(self, kind: str) -> int:
        """Per-head width of a layer of this kind."""
        return self.global_head_dim if kind == "global" else self.head_dim

    def layer_kv_heads(self, kind: str) -> int:
        return self.global_kv if kind == "global" else self.kv_heads

    def layer_n_head(self, kind: str) -> int:
        """Query heads of a layer of this kind."""
        return self.global_heads if kind == "global" else self.n_head

    def layer_kv_lora_rank(self, kind: str) -> int | None:
        """The key/value latent of a latent layer of this kind."""
        return self.global_latent if kind == "global" else self.kv_lora_rank

    def layer_indexer(self, kind: str, indexer_shared: bool = False) -> bool:
        """Whether a latent layer of this kind runs an indexer of its own: with sparse
        attention, on every layer but those that reuse an earlier one's choice and the local
        ones (a window instead: dots3's sliding layers)."""
        return self.sparse_attention and not indexer_shared and kind != "local"

    @property
    def has_local(self) -> bool:
        return "local" in self.attention_pattern

    @property
    def has_chunked(self) -> bool:
        return "chunked" in self.attention_pattern

    @property
    def temperature_tuning(self) -> bool:
        """Llama 4's attention temperature tuning on the layers without rotary."""
        return self.temperature_floor is not None

    @property
    def has_linear(self) -> bool:
        """Linear-attention (Gated DeltaNet) layers on the pattern: a recurrent state each."""
        return "linear" in self.attention_pattern

    @property
    def has_ssm(self) -> bool:
        """State-space (`mamba`, `mamba2`) layers on the pattern."""
        return self.ssm_parallel or bool({"mamba", "mamba2"} & set(self.attention_pattern))

    @property
    def has_recurrent(self) -> bool:
        """Layers that keep a state per sequence, constant in context, instead of keys."""
        return (self.ssm_parallel or self.cca or self.short_convolutions or
                bool(set(RECURRENT_KINDS) & set(self.attention_pattern)))

    @property
    def cca(self) -> bool:
        """Zaya's Compressed Convolutional Attention: a small state beside each layer's keys."""
        return self.cca_depthwise_kernel is not None

    @property
    def short_convolutions(self) -> bool:
        """Inkling's short convolutions (keys, values, sublayer outputs): a small state beside
        each attention layer's keys."""
        return self.kv_conv_kernel is not None or self.sublayer_conv_kernel is not None

    @property
    def linear_k_dim(self) -> int:
        """Width of all query (or key) heads of a linear layer together."""
        return (self.linear_n_k_head or 0) * (self.linear_d_head_k or 0)

    @property
    def linear_v_dim(self) -> int:
        """Width of all value heads of a linear layer together."""
        return (self.linear_n_v_head or 0) * (self.linear_d_head_v or 0)

    @property
    def linear_conv_dim(self) -> int:
        """Channels the linear layers' convolution runs over: q, k and v."""
        return 2 * self.linear_k_dim + self.linear_v_dim

    @property
    def rotary_dim(self) -> int:
        if self.position != "rotary":
            return 0
        if self.d_head_rope is not None:
            return self.d_head_rope
        return int(self.head_dim * self.rotary_fraction)

    @property
    def embed_width(self) -> int:
        """Width of the token embedding (and tied head): d_model unless projected (OPT-350M)."""
        return self.embed_dim if self.embed_dim is not None else self.d_model

    @property
    def latent_eps(self) -> float:
        """The epsilon of latent attention's q and kv latent norms."""
        return self.norm_eps if self.latent_norm_eps is None else self.latent_norm_eps

    @property
    def gated(self) -> bool:
        return self.activation in GATED

    @cached_property
    def layer_kinds(self) -> tuple[str, ...]:
        """'global' or 'local' per layer: the pattern cycled over the depth."""
        pattern = self.attention_pattern
        return tuple(pattern[i % len(pattern)] for i in range(self.n_layer))

    @cached_property
    def layer_shared_block(self) -> tuple[bool, ...]:
        """Whether a shared block runs before each layer's mixer: the pattern cycled (none
        without shared_blocks)."""
        if self.shared_blocks is None:
            return (False,) * self.n_layer
        pattern = self.shared_block_pattern
        return tuple(pattern[i % len(pattern)] for i in range(self.n_layer))

    @property
    def layer_runs_each(self) -> tuple[int, ...]:
        """Times each layer runs per token: layer_runs cycled over the depth."""
        runs = self.layer_runs
        return tuple(runs[i % len(runs)] for i in range(self.n_layer))

    @cached_property
    def layer_cached_runs(self) -> tuple[int, ...]:
        """Sets of keys each layer caches per token: one per run, or one with
        cache_last_run_only."""
        return tuple(1 if self.cache_last_run_only else runs for runs in self.layer_runs_each)

    @property
    def shared_invocations(self) -> int:
        """Times the shared blocks run per token (each with its own linear, adapters and keys)."""
        return sum(self.layer_shared_block)

    @cached_property
    def layer_rotary(self) -> tuple[bool, ...]:
        """Whether each layer rotates q and k: the rotary pattern cycled over the depth."""
        if not self.rotary:
            return (False,) * self.n_layer
        pattern = self.rotary_pattern
        return tuple(pattern[i % len(pattern)] for i in range(self.n_layer))

    @property
    def norms_per_layer(self) -> int:
        if self.block == "parallel":
            return 1
        return 4 if self.norm_position == "sandwich" else 2

    def has_bias(self, part: str) -> bool:
        """Bias switch for 'qkv', 'attn_out' or 'mlp': the per-part field, else `bias`."""
        value = getattr(self, f"{part}_bias")
        return self.bias if value is None else value

    def with_changes(self, **changes: Any) -> ModelSpec:
        """A validated copy with some fields changed (e.g. a tiny test variant)."""
        data = to_mapping(self)
        data.update(changes)
        return spec_from_mapping(data, file=self.source_file or None)


SPEC_FIELDS = declared(ModelSpec)
NESTED = {name for name, f in SPEC_FIELDS.items() if f.metadata["kind"].startswith("nested")}


def _check_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every key of a spec's mapping checked against its field's declaration."""
    try:
        return check(ModelSpec, data, dialect="yaml")
    except SettingError as err:
        raise SpecError(err.reason, field=err.name) from None


def spec_from_mapping(data: Any, *, file: str | None = None) -> ModelSpec:
    """Validate one model's mapping (family defaults already merged in) into a ModelSpec."""
    if not isinstance(data, Mapping):
        raise SpecError(f"expected a mapping of fields, got {describe(data)}", file=file)
    model = data.get("name") if isinstance(data.get("name"), str) else None
    try:
        values = _check_keys(data)
        spec = ModelSpec(**values, source_file=file or "")
        check_consistency(spec)
    except SpecError as err:
        raise err.located(file=file, model=model) from None
    return spec


def to_mapping(spec: ModelSpec) -> dict[str, Any]:
    """The spec as plain YAML/JSON data (what `spec_from_mapping` reads back to an equal spec)."""
    out: dict[str, Any] = {}
    for name, f in SPEC_FIELDS.items():
        value = getattr(spec, name)
        if f.default is not MISSING and value == f.default:
            continue
        if name in NESTED:
            value = None if value is None else {
                k.name: getattr(value, k.name) for k in fields(value)
                if getattr(value, k.name) is not None}
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out
