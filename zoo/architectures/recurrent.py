"""The recurrent, state-space and hybrid decoders of transformers: counted exactly, not built
(but for Mamba, Falcon-Mamba, Mamba-2, Bamba, Granite 4's hybrids, Nemotron-H and Jamba, whose
built entries in zoo.architectures.mamba take their readers from here).

Mamba, Falcon-Mamba and Mamba-2 are stacks of selective state-space mixers (one norm and one
mixer per block, no MLP); the hybrids put them beside attention and MLP or expert blocks on a
pattern their config states. The closed forms of the mixers are in `zoo.accounting.recurrent`;
zoo's decoder does not compute them, so each entry names the nearest model_type it builds and
the spec says why it is counted only.

Each reader states its class's own defaults (from the config class in transformers 5.25), so a
key a config.json leaves out means what it means there; tests/test_config_defaults.py drops
each key of every entry's default config and holds the count to transformers'.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    read_rope,
    refuse_write,
    shortest_period,
)

Reader = Callable[[Mapping[str, Any]], Config]

# a pure recurrent model states no context length: it has no limit of its own, and no figure
# of it depends on one (no layer keeps keys); the spec field takes this placeholder, said so
NO_CONTEXT = 1 << 20
NO_CONTEXT_NOTE = ("config.json states no context length: a recurrent model has no limit of "
                   f"its own, so context_length is a placeholder ({NO_CONTEXT:,}) that no figure "
                   "depends on")


def _dt_rank(c: Mapping[str, Any], key: str) -> int:
    """The time-step projection's width: "auto" is ceil(hidden_size / 16), as the classes say."""
    rank = get(c, key)
    return math.ceil(get(c, "hidden_size") / 16) if rank == "auto" else int(rank)


def _recurrent_only(c: Mapping[str, Any], mixer: Config) -> Config:
    """A stack of one norm and one state-space mixer per block, no attention, no MLP: the
    attention and MLP widths take placeholders that nothing counts (n_head 1, d_ff 1)."""
    d = get(c, "hidden_size")
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=1, d_ff=1,
                vocab_size=get(c, "vocab_size"), context_length=NO_CONTEXT, position="none",
                norm="rmsnorm", norm_eps=get(c, "layer_norm_epsilon"), bias=False,
                mlp_pattern=["none"], tie_embeddings=bool(get(c, "tie_word_embeddings")),
                notes=[NO_CONTEXT_NOTE], **mixer)


MAMBA_DEFAULTS = {"vocab_size": 50280, "hidden_size": 768, "state_size": 16,
                  "num_hidden_layers": 32, "layer_norm_epsilon": 1e-5, "expand": 2,
                  "conv_kernel": 4, "use_bias": False, "use_conv_bias": True,
                  "time_step_rank": "auto", "tie_word_embeddings": True}


def read_mamba(c: Mapping[str, Any]) -> Config:
    """MambaConfig (and FalconMambaConfig, whose B, C and step norms have no weight): the scan
    is int(expand x hidden_size) wide unless the config states intermediate_size (the class
    derives it, then sets the keys it does not declare, this one among them)."""
    c = defaults_under(c, MAMBA_DEFAULTS)
    inner = get(c, "intermediate_size", default=int(get(c, "expand") * get(c, "hidden_size")))
    return _recurrent_only(c, dict(
        attention_pattern=["mamba"], ssm_d_inner=inner,
        ssm_d_state=get(c, "state_size"), ssm_conv_kernel=get(c, "conv_kernel"),
        ssm_dt_rank=_dt_rank(c, "time_step_rank"), ssm_proj_bias=bool(c["use_bias"]),
        ssm_conv_bias=bool(c["use_conv_bias"])))


MAMBA2_DEFAULTS = {"num_heads": 128, "vocab_size": 32768, "hidden_size": 4096,
                   "state_size": 128, "num_hidden_layers": 64, "layer_norm_epsilon": 1e-5,
                   "expand": 2, "conv_kernel": 4, "n_groups": 8, "use_bias": False,
                   "use_conv_bias": True, "tie_word_embeddings": False}


def read_mamba2(c: Mapping[str, Any]) -> Config:
    """Mamba2Config: the scan int(expand x hidden_size) wide, num_heads heads (head_dim shapes
    no parameter), n_groups groups of B and C. Built (zoo.architectures.mamba): what the class
    computes beyond these fields is checked there."""
    c = defaults_under(c, MAMBA2_DEFAULTS)
    return _recurrent_only(c, dict(
        attention_pattern=["mamba2"], ssm_d_inner=int(get(c, "expand") * get(c, "hidden_size")),
        ssm_d_state=get(c, "state_size"), ssm_conv_kernel=get(c, "conv_kernel"),
        ssm_n_head=get(c, "num_heads"), ssm_n_group=get(c, "n_groups"),
        ssm_proj_bias=bool(c["use_bias"]), ssm_conv_bias=bool(c["use_conv_bias"])))


# the layer type names transformers renames in every config (PreTrainedConfig's
# remap_legacy_layer_types): Granite 4's published configs say "mamba" and "attention"
LEGACY_LAYER_TYPES = {"mamba": "linear_attention", "attention": "full_attention"}


def _legacy(types: Any) -> Any:
    """A layer-type list with the legacy names renamed, as transformers does; anything else
    as it is."""
    if not isinstance(types, list):
        return types
    return [LEGACY_LAYER_TYPES.get(t, t) if isinstance(t, str) else t for t in types]


def _up_to(x: float, multiple: int) -> int:
    """x rounded up to a multiple (as the config classes round widths)."""
    return int((x + multiple - 1) // multiple * multiple)


def _pattern(kinds: list[str], layers: int, key: str) -> list[str]:
    """A per-layer list of mixers as the spec's cycled pattern."""
    if len(kinds) != layers:
        raise UnsupportedConfigError(f"{key} gives {len(kinds)} layers for num_hidden_layers "
                                     f"{layers}")
    return shortest_period(kinds)


def _attention(c: Mapping[str, Any], *, bias: bool, rotary: bool = True,
                fraction: float = 1.0) -> Config:
    """The attention layers' geometry: heads, kv heads, head_dim (stated, else hidden_size /
    heads, as the classes derive it), one bias switch for q, k, v and o, rotary or none."""
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    out: Config = dict(n_head=heads, n_kv_head=get(c, "num_key_value_heads", default=heads),
                       d_head=get(c, "head_dim", default=d // heads),
                       context_length=get(c, "max_position_embeddings"), qkv_bias=bias,
                       attn_out_bias=bias, position="rotary" if rotary else "none")
    return {**out, **read_rope(c, fraction)} if rotary else out


def _swiglu(c: Mapping[str, Any], key: str = "hidden_act") -> Config:
    """A gated MLP (gate, up, down): its count is the same whatever the activation, which the
    notes name where it is not SiLU."""
    act = c.get(key, "silu")
    note = [] if act in ("silu", "swish") else [f"{key} {act!r}: the gated MLP is counted as "
                                                  "SwiGLU's shapes, with this activation"]
    return dict(activation="swiglu", notes=note)


BAMBA_DEFAULTS = {"vocab_size": 128000, "tie_word_embeddings": False, "hidden_size": 4096,
                  "intermediate_size": 14336, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
                  "max_position_embeddings": 262144, "attn_layer_indices": None,
                  "mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256,
                  "mamba_d_conv": 4, "mamba_expand": 2, "mamba_conv_bias": True,
                  "mamba_proj_bias": False, "attention_bias": False, "mlp_bias": False}


def read_bamba(c: Mapping[str, Any]) -> Config:
    """BambaConfig: Mamba-2 layers, attention on attn_layer_indices (none by default), each
    with a gated MLP and two norms; half of each attention head rotated (the class fixes
    partial_rotary_factor 0.5)."""
    c = {**BAMBA_DEFAULTS, **c}  # a null num_key_value_heads: as many as the heads
    layers = get(c, "num_hidden_layers")
    attn = set(c["attn_layer_indices"] or ())
    kinds = ["global" if i in attn else "mamba2" for i in range(layers)]
    return dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        **_attention(c, bias=bool(c["attention_bias"]), fraction=0.5), **_swiglu(c),
        bias=False, mlp_bias=bool(c["mlp_bias"]),
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern(kinds, layers, "attn_layer_indices"),
        ssm_d_inner=int(get(c, "mamba_expand") * get(c, "hidden_size")),
        ssm_d_state=get(c, "mamba_d_state"), ssm_conv_kernel=get(c, "mamba_d_conv"),
        ssm_n_head=get(c, "mamba_n_heads"), ssm_n_group=get(c, "mamba_n_groups"),
        ssm_proj_bias=bool(c["mamba_proj_bias"]), ssm_conv_bias=bool(c["mamba_conv_bias"]))


JAMBA_DEFAULTS = {
    "vocab_size": 65536, "tie_word_embeddings": False, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-6, "max_position_embeddings": 262144,
    "num_experts_per_tok": 2, "num_experts": 16, "expert_layer_period": 2,
    "expert_layer_offset": 1, "attn_layer_period": 8, "attn_layer_offset": 4,
    "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto",
    "mamba_conv_bias": True, "mamba_proj_bias": False}


def read_jamba(c: Mapping[str, Any]) -> Config:
    """JambaConfig: attention (no bias, no positions) on layers i % attn_layer_period ==
    attn_layer_offset, Mamba elsewhere (with RMSNorms of the step, B and C); experts (gated, of
    intermediate_size, a router without bias) on layers i % expert_layer_period ==
    expert_layer_offset when num_experts > 1, a gated MLP elsewhere; two norms per block."""
    if "num_local_experts" in c and "num_experts" not in c:  # the class's other name for it
        c = {**c, "num_experts": c["num_local_experts"]}
    c = {**JAMBA_DEFAULTS, **c}  # a null num_key_value_heads: as many as the heads
    layers = get(c, "num_hidden_layers")
    attn = (get(c, "attn_layer_period"), get(c, "attn_layer_offset"))
    expert = (get(c, "expert_layer_period"), get(c, "expert_layer_offset"))
    experts = get(c, "num_experts")
    kinds = ["global" if i % attn[0] == attn[1] else "mamba" for i in range(layers)]
    mlps = ["moe" if experts > 1 and i % expert[0] == expert[1] else "dense"
            for i in range(layers)]
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        **_attention(c, bias=False, rotary=False), **_swiglu(c), bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern(kinds, layers, "attn_layer_period"),
        ssm_d_inner=get(c, "mamba_expand") * get(c, "hidden_size"),
        ssm_d_state=get(c, "mamba_d_state"), ssm_conv_kernel=get(c, "mamba_d_conv"),
        ssm_dt_rank=_dt_rank(c, "mamba_dt_rank"), ssm_inner_norms=True,
        ssm_proj_bias=bool(c["mamba_proj_bias"]), ssm_conv_bias=bool(c["mamba_conv_bias"]))
    if "moe" not in mlps:
        return out
    return {**out, "mlp_pattern": shortest_period(mlps), "n_experts": experts,
            "experts_per_token": get(c, "num_experts_per_tok"), "router_normalize": False}


GRANITE_HYBRID_DEFAULTS = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "attention_bias": False, "num_local_experts": 8, "num_experts_per_tok": 2,
    "shared_intermediate_size": 1024, "position_embedding_type": None, "layer_types": None,
    "mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
    "mamba_expand": 2, "mamba_conv_bias": True, "mamba_proj_bias": False}
GRANITE_HYBRID_LAYERS = {"linear_attention": "mamba2", "full_attention": "global"}


def read_granitemoehybrid(c: Mapping[str, Any]) -> Config:
    """GraniteMoeHybridConfig: Mamba-2 or attention per layer_types (all Mamba-2 by default),
    each layer with two norms, a gated shared MLP of shared_intermediate_size and, when
    num_local_experts > 0, gated experts of intermediate_size beside it (router without
    bias); rotary only with position_embedding_type "rope". The muP multipliers have no
    parameters."""
    c = {**GRANITE_HYBRID_DEFAULTS, **c}  # a null num_key_value_heads: as many as the heads
    layers = get(c, "num_hidden_layers")
    types = _legacy(c["layer_types"]) if c["layer_types"] is not None else \
        ["linear_attention"] * layers
    unknown = sorted({str(t) for t in types} - set(GRANITE_HYBRID_LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"layer_types has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(GRANITE_HYBRID_LAYERS)}")
    experts, shared = get(c, "num_local_experts", default=0), \
        get(c, "shared_intermediate_size", default=0)
    rope = c.get("position_embedding_type") == "rope"
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        **_attention(c, bias=bool(c["attention_bias"]), rotary=rope), **_swiglu(c),
        bias=False, tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern([GRANITE_HYBRID_LAYERS[t] for t in types], layers,
                                   "layer_types"),
        ssm_d_inner=int(get(c, "mamba_expand") * get(c, "hidden_size")),
        ssm_d_state=get(c, "mamba_d_state"), ssm_conv_kernel=get(c, "mamba_d_conv"),
        ssm_n_head=get(c, "mamba_n_heads"), ssm_n_group=get(c, "mamba_n_groups"),
        ssm_proj_bias=bool(c["mamba_proj_bias"]), ssm_conv_bias=bool(c["mamba_conv_bias"]))
    if experts <= 0:  # the shared MLP is the layer's MLP
        if shared <= 0:
            raise UnsupportedConfigError("shared_intermediate_size 0 without experts: layers "
                                         "with no MLP at all are not read here")
        return {**out, "d_ff": shared}
    return {**out, "d_ff": get(c, "intermediate_size"), "n_experts": experts,
            "experts_per_token": get(c, "num_experts_per_tok"),
            **({"n_shared_experts": 1, "d_ff_shared": shared} if shared > 0 else {})}


LFM2_DEFAULTS = {
    "vocab_size": 65536, "hidden_size": 2560, "intermediate_size": 12288,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 128_000, "norm_eps": 1e-5, "tie_word_embeddings": True,
    "conv_bias": False, "conv_L_cache": 3, "block_multiple_of": 256,
    "block_ffn_dim_multiplier": 1.0, "block_auto_adjust_ff_dim": True, "full_attn_idxs": None,
    "layer_types": None}


def _lfm2_width(c: Mapping[str, Any]) -> int:
    """Lfm2MLP's hidden width: intermediate_size, or with block_auto_adjust_ff_dim two thirds
    of it, times block_ffn_dim_multiplier (when set), rounded up to block_multiple_of."""
    width = get(c, "intermediate_size")
    if not c["block_auto_adjust_ff_dim"]:
        return width
    width = int(2 * width / 3)
    if c["block_ffn_dim_multiplier"] is not None:
        multiple = get(c, "block_multiple_of")
        width = int(c["block_ffn_dim_multiplier"] * width)
        width = _up_to(width, multiple)
    return width


def read_lfm2(c: Mapping[str, Any]) -> Config:
    """Lfm2Config: attention (QK-norm per head, no bias, rotary) on layer_types'
    full_attention layers, else on full_attn_idxs (every layer by default), a gated short
    convolution elsewhere; a gated MLP whose width the class adjusts; one norm at the end
    (embedding_norm, applied after the last layer). tie_embedding and block_ff_dim are the
    class's old names."""
    c = dict(c)
    for legacy, key in (("tie_embedding", "tie_word_embeddings"),
                        ("block_ff_dim", "intermediate_size")):
        if legacy in c:
            c[key] = c.pop(legacy)
    c = {**LFM2_DEFAULTS, **c}
    layers = get(c, "num_hidden_layers")
    types = _legacy(c["layer_types"])
    if types is None:
        full = c["full_attn_idxs"] if c["full_attn_idxs"] is not None else range(layers)
        types = ["full_attention" if i in set(full) else "conv" for i in range(layers)]
    kinds = ["short_conv" if t == "conv" else "global" for t in types]
    return dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=_lfm2_width(c),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "norm_eps"),
        **_attention(c, bias=False), qk_norm="head", activation="swiglu", bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern(kinds, layers, "layer_types"),
        **({"short_conv_kernel": get(c, "conv_L_cache"), "short_conv_bias": bool(c["conv_bias"])}
           if "short_conv" in kinds else {}))


FALCON_H1_DEFAULTS = {
    "vocab_size": 128000, "tie_word_embeddings": False, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-5, "max_position_embeddings": 8192,
    "mamba_d_ssm": 1024, "mamba_n_heads": 128, "mamba_n_groups": 1, "mamba_d_state": 256,
    "mamba_d_conv": 4, "mamba_expand": 2, "mamba_conv_bias": True, "mamba_proj_bias": False,
    "mamba_rms_norm": False, "projectors_bias": False, "attention_bias": False,
    "mlp_bias": False}


def read_falcon_h1(c: Mapping[str, Any]) -> Config:
    """FalconH1Config: every layer attention and a Mamba-2 mixer side by side on one normed
    input (the mixer mamba_d_ssm wide, or mamba_expand x hidden_size where that is null; its
    gated norm only with mamba_rms_norm; its output projection's bias is projectors_bias), then
    a gated MLP; the muP multipliers are not parameters."""
    c = {**FALCON_H1_DEFAULTS, **c}  # a null num_key_value_heads: as many as the heads
    layers, d = get(c, "num_hidden_layers"), get(c, "hidden_size")
    if c["mamba_proj_bias"] != c["projectors_bias"]:
        raise UnsupportedConfigError("mamba_proj_bias and projectors_bias differ: the mixer's "
                                     "in and out projections' biases are one switch here")
    return dict(
        n_layer=layers, d_model=d, d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        **_attention(c, bias=bool(c["attention_bias"])), **_swiglu(c), bias=False,
        mlp_bias=bool(c["mlp_bias"]), tie_embeddings=bool(c["tie_word_embeddings"]),
        ssm_parallel=True,
        ssm_d_inner=get(c, "mamba_d_ssm", default=int(get(c, "mamba_expand") * d)),
        ssm_d_state=get(c, "mamba_d_state"), ssm_conv_kernel=get(c, "mamba_d_conv"),
        ssm_n_head=get(c, "mamba_n_heads"), ssm_n_group=get(c, "mamba_n_groups"),
        ssm_proj_bias=bool(c["mamba_proj_bias"]), ssm_conv_bias=bool(c["mamba_conv_bias"]),
        ssm_gated_norm=bool(c["mamba_rms_norm"]))


RECURRENT_GEMMA_DEFAULTS = {
    "num_hidden_layers": 26, "vocab_size": 256000, "hidden_size": 2560,
    "intermediate_size": 3 * 2560, "num_attention_heads": 10, "lru_width": None,
    "attention_window_size": 2048, "conv1d_width": 4, "rms_norm_eps": 1e-6,
    "block_types": ["recurrent", "recurrent", "attention"], "num_key_value_heads": None,
    "attention_bias": False, "tie_word_embeddings": True,
    "hidden_activation": "gelu_pytorch_tanh"}


def read_recurrent_gemma(c: Mapping[str, Any]) -> Config:
    """RecurrentGemmaConfig: block_types cycled over the layers, `recurrent` an RG-LRU block
    (lru_width wide, hidden_size where null) and `attention` local attention over
    attention_window_size (q, k, v biased by attention_bias, o always biased, half of each head
    rotated); each with a biased gated MLP of intermediate_size // 2 and two (1 + w) norms."""
    c = {**RECURRENT_GEMMA_DEFAULTS, **c}
    layers, d = get(c, "num_hidden_layers"), get(c, "hidden_size")
    blocks = list(get(c, "block_types"))
    unknown = sorted({str(b) for b in blocks} - {"recurrent", "attention"})
    if unknown:
        raise UnsupportedConfigError(f"block_types has {', '.join(unknown)}; expected "
                                     f"recurrent, attention")
    kinds = [("rglru" if b == "recurrent" else "local") for b in (blocks * layers)[:layers]]
    heads = get(c, "num_attention_heads")
    window = get(c, "attention_window_size")
    act = c["hidden_activation"]
    return dict(
        n_layer=layers, d_model=d, n_head=heads,
        n_kv_head=get(c, "num_key_value_heads", default=heads),
        d_head=get(c, "head_dim", default=d // heads),
        context_length=NO_CONTEXT,  # local attention and a recurrence: no limit of its own
        position="rotary", **read_rope(c, 0.5), d_ff=get(c, "intermediate_size") // 2,
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        norm_unit_offset=True, scale_embeddings=True, activation="geglu", bias=False,
        qkv_bias=bool(c["attention_bias"]), attn_out_bias=True, mlp_bias=True,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=shortest_period(kinds),
        **({"local_window": window} if "local" in kinds else {}),
        **({"lru_width": get(c, "lru_width", default=d),
            "lru_conv_kernel": get(c, "conv1d_width")} if "rglru" in kinds else {}),
        notes=[NO_CONTEXT_NOTE] + ([] if act in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast")
                                   else [f"hidden_activation {act!r}: the gated MLP is counted "
                                         f"as GeGLU's shapes"]))


LFM3_DEFAULTS = {
    "vocab_size": 128_000, "hidden_size": 2048, "intermediate_size": 7680,
    "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 4,
    "max_position_embeddings": 128_000, "norm_eps": 1e-5, "tie_word_embeddings": True,
    "conv_bias": False, "conv_L_cache": 7, "layer_types": None, "head_dim": 128,
    "sliding_window": 256, "use_sandwich_norm": True, "use_attention_gate": True,
    "attention_bias": False}
LFM3_LAYERS = {"conv": "short_conv", "sliding_attention": "local", "full_attention": "global"}


def read_lfm3(c: Mapping[str, Any]) -> Config:
    """Lfm3Config: LFM2's short convolutions with sliding-window and full attention on
    layer_types (by default full on i % 4 == 2, sliding on i % 4 == 0 past the first, else
    convolution); attention QK-normed per head, its output gated per head (use_attention_gate);
    a norm after each sublayer too (use_sandwich_norm); a gated MLP of intermediate_size. Its
    per-layer-type rotary settings hold no parameters and are not read."""
    if "rms_norm_eps" in c and "norm_eps" not in c:  # the class's other name for it
        c = {**c, "norm_eps": c["rms_norm_eps"]}
    c = {**LFM3_DEFAULTS, **c}
    layers = get(c, "num_hidden_layers")
    types = _legacy(c["layer_types"])
    if types is None:
        types = ["full_attention" if i % 4 == 2 else
                 "sliding_attention" if i % 4 == 0 and i > 0 else "conv" for i in range(layers)]
    unknown = sorted({str(t) for t in types} - set(LFM3_LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"layer_types has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(LFM3_LAYERS)}")
    kinds = [LFM3_LAYERS[t] for t in types]
    heads = get(c, "num_attention_heads")
    bias = bool(c["attention_bias"])
    return dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "norm_eps"),
        norm_position="sandwich" if c["use_sandwich_norm"] else "pre",
        n_head=heads, n_kv_head=get(c, "num_key_value_heads", default=heads),
        d_head=get(c, "head_dim", default=get(c, "hidden_size") // heads),
        context_length=get(c, "max_position_embeddings"), position="rotary", qk_norm="head",
        qkv_bias=bias, attn_out_bias=bias, attention_head_gate=bool(c["use_attention_gate"]),
        activation="swiglu", bias=False, tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern(kinds, layers, "layer_types"),
        **({"local_window": get(c, "sliding_window")} if "local" in kinds else {}),
        **({"short_conv_kernel": get(c, "conv_L_cache"), "short_conv_bias": bool(c["conv_bias"])}
           if "short_conv" in kinds else {}),
        notes=["rope_parameters per layer type are not read: they hold no parameters"])


RWKV_DEFAULTS = {"vocab_size": 50277, "context_length": 1024, "hidden_size": 4096,
                 "num_hidden_layers": 32, "attention_hidden_size": None,
                 "intermediate_size": None, "layer_norm_epsilon": 1e-5,
                 "tie_word_embeddings": False}


def read_rwkv(c: Mapping[str, Any]) -> Config:
    """RwkvConfig (RWKV-4): each block LayerNorms before a time mix of attention_hidden_size
    (hidden_size where null) and a channel mix of intermediate_size (4 x hidden_size where
    null); a LayerNorm after the embedding (the first block's pre_ln) and one at the end."""
    c = {**RWKV_DEFAULTS, **c}
    d = get(c, "hidden_size")
    return dict(
        n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=1,
        d_ff=get(c, "intermediate_size", default=4 * d), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "context_length"), position="none", norm="layernorm",
        norm_eps=get(c, "layer_norm_epsilon"), embedding_norm=True, bias=False,
        activation="relu",  # the channel mix's squared ReLU
        tie_embeddings=bool(c["tie_word_embeddings"]), attention_pattern=["rwkv"],
        rwkv_width=get(c, "attention_hidden_size", default=d))


OLMO_HYBRID_DEFAULTS = {
    "vocab_size": 100352, "hidden_size": 3840, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 30, "num_key_value_heads": None,
    "max_position_embeddings": 65536, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "attention_bias": False, "layer_types": None, "linear_num_key_heads": None,
    "linear_num_value_heads": None, "linear_key_head_dim": None, "linear_value_head_dim": None,
    "linear_conv_kernel_dim": 4}
OLMO_HYBRID_LAYERS = {"linear_attention": "linear", "full_attention": "global"}


def read_olmo_hybrid(c: Mapping[str, Any]) -> Config:
    """OlmoHybridConfig: Gated DeltaNet layers (q, k, v, a, b and g projections apart, the
    shapes of Qwen3-Next's fused ones) with every fourth layer full attention by default (the
    last at least); attention layers OLMo 2's (a norm on each sublayer's output, q and k
    normalised over the projection), linear layers normed before each sublayer: two norms a
    layer either way. Linear heads default to the attention heads, key width to
    int(0.75 x hidden_size / key heads), value width to twice that."""
    c = {**OLMO_HYBRID_DEFAULTS, **c}
    layers, d = get(c, "num_hidden_layers"), get(c, "hidden_size")
    heads = get(c, "num_attention_heads")
    types = _legacy(c["layer_types"])
    if types is None:
        types = ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(layers)]
        if "full_attention" not in types:
            types[-1] = "full_attention"
    unknown = sorted({str(t) for t in types} - set(OLMO_HYBRID_LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"layer_types has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(OLMO_HYBRID_LAYERS)}")
    k_heads = get(c, "linear_num_key_heads", default=heads)
    k_dim = get(c, "linear_key_head_dim", default=int(0.75 * d / k_heads))
    return dict(
        n_layer=layers, d_model=d, d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        norm_position="output", qk_norm="projection",
        **_attention(c, bias=bool(c["attention_bias"])), **_swiglu(c), bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern([OLMO_HYBRID_LAYERS[t] for t in types], layers,
                                   "layer_types"),
        linear_n_k_head=k_heads, linear_n_v_head=get(c, "linear_num_value_heads", default=heads),
        linear_d_head_k=k_dim, linear_d_head_v=get(c, "linear_value_head_dim", default=2 * k_dim),
        linear_conv_kernel=get(c, "linear_conv_kernel_dim"))


NEMOTRON_H_DEFAULTS = {
    "vocab_size": 131072, "hidden_size": 4096, "layers_block_type": None,
    "tie_word_embeddings": False, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 128, "max_position_embeddings": 4096, "intermediate_size": 21504,
    "mlp_hidden_act": "relu2", "mlp_bias": False, "ssm_state_size": 128,
    "mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8, "conv_kernel": 4,
    "use_conv_bias": True, "n_routed_experts": 8, "n_shared_experts": 1,
    "moe_intermediate_size": 7688, "moe_shared_expert_intermediate_size": 7688,
    "moe_latent_size": None, "num_experts_per_tok": 2, "routed_scaling_factor": 1.0,
    "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "num_nextn_predict_layers": 0,
    "use_bias": False, "layer_norm_epsilon": 1e-5}
# Nemotron-H's block types -> (token mixer, MLP): each block is one norm and one of them
NEMOTRON_H_BLOCKS = {"linear_attention": ("mamba2", "none"), "full_attention": ("global", "none"),
                     "mlp": ("none", "dense"), "moe": ("none", "moe")}
NEMOTRON_H_PATTERN = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}


def _nemotron_h_blocks(c: Mapping[str, Any]) -> list[str]:
    """layers_block_type, else the legacy hybrid_override_pattern ("M-M*-E..."), else the
    class's four blocks; num_hidden_layers is ignored (the class derives it)."""
    blocks = _legacy(c.get("layers_block_type"))
    if blocks is None and c.get("hybrid_override_pattern") is not None:
        pattern = str(c["hybrid_override_pattern"])
        unknown = sorted(set(pattern) - set(NEMOTRON_H_PATTERN))
        if unknown:
            raise UnsupportedConfigError(f"hybrid_override_pattern has {', '.join(unknown)}; "
                                         f"expected {''.join(NEMOTRON_H_PATTERN)}")
        blocks = [NEMOTRON_H_PATTERN[ch] for ch in pattern]
    if blocks is None:
        blocks = ["linear_attention", "moe", "full_attention", "mlp"]
    if not isinstance(blocks, list) or not blocks:
        raise UnsupportedConfigError("layers_block_type must be a non-empty list")
    unknown = sorted({str(b) for b in blocks} - set(NEMOTRON_H_BLOCKS))
    if unknown:
        raise UnsupportedConfigError(f"layers_block_type has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(NEMOTRON_H_BLOCKS)}")
    return blocks


def read_nemotron_h(c: Mapping[str, Any]) -> Config:
    """NemotronHConfig: a norm and one mixer per block (Mamba-2, attention without bias or
    rotary, a two-matrix squared-ReLU MLP, or non-gated experts with a shared MLP beside them,
    routed by sigmoid scores with a correction-bias buffer); the Mamba-2 scan is
    mamba_num_heads x mamba_head_dim wide. Multi-token-prediction layers are not built."""
    c = {**NEMOTRON_H_DEFAULTS, **c}  # a null num_key_value_heads: as many as the heads
    for legacy, key in (("mamba_n_groups", "n_groups"), ("mamba_d_conv", "conv_kernel"),
                        ("mamba_conv_bias", "use_conv_bias")):
        if legacy in c:  # the class reads the old names first
            c[key] = c[legacy]
    blocks = _nemotron_h_blocks(c)
    if c["moe_latent_size"] is not None:
        raise UnsupportedConfigError("moe_latent_size: the experts' latent projections are not "
                                     "counted")
    moe = "moe" in blocks
    if moe and c["mlp_bias"]:
        raise UnsupportedConfigError("mlp_bias with experts: the shared MLP has biases and the "
                                     "experts none, which zoo does not express")
    layers = len(blocks)
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "layer_norm_epsilon"),
        **_attention(c, bias=False, rotary=False), activation="relu", bias=False,
        mlp_bias=bool(c["mlp_bias"]), tie_embeddings=False,  # the class never ties its head
        attention_pattern=shortest_period([NEMOTRON_H_BLOCKS[b][0] for b in blocks]),
        mlp_pattern=shortest_period([NEMOTRON_H_BLOCKS[b][1] for b in blocks]),
        ssm_d_inner=get(c, "mamba_num_heads") * get(c, "mamba_head_dim"),
        ssm_d_state=get(c, "ssm_state_size"), ssm_conv_kernel=get(c, "conv_kernel"),
        ssm_n_head=get(c, "mamba_num_heads"), ssm_n_group=get(c, "n_groups"),
        ssm_proj_bias=bool(c["use_bias"]), ssm_conv_bias=bool(c["use_conv_bias"]))
    if c["mlp_hidden_act"] != "relu2":
        out["notes"] = [f"mlp_hidden_act {c['mlp_hidden_act']!r}: counted as the two-matrix "
                        f"MLP it is, with this activation"]
    if get(c, "num_nextn_predict_layers"):
        out.setdefault("notes", []).append(
            "the checkpoint's multi-token-prediction layers are not built by transformers, and "
            "not counted")
    if not moe:
        return out
    groups = get(c, "n_group")
    return {**out, "n_experts": get(c, "n_routed_experts"),
            "experts_per_token": get(c, "num_experts_per_tok"),
            "d_ff_expert": get(c, "moe_intermediate_size"), "n_shared_experts": 1,
            "d_ff_shared": get(c, "moe_shared_expert_intermediate_size"),
            "router_scoring": "sigmoid", "routing_bias": True,
            "router_normalize": bool(c["norm_topk_prob"]),
            "routed_scaling": float(get(c, "routed_scaling_factor")),
            **({"expert_groups": groups, "expert_groups_per_token": get(c, "topk_group")}
               if groups > 1 else {})}


MINIMAX_DEFAULTS = {
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": None, "max_position_embeddings": 4096 * 32, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": False, "num_experts_per_tok": 2, "num_local_experts": 8,
    "layer_types": None, "hidden_act": "silu", "rope_theta": 1e6}
MINIMAX_LAYERS = {"linear_attention": "lightning", "full_attention": "global"}


def read_minimax(c: Mapping[str, Any]) -> Config:
    """MiniMaxConfig (MiniMax-Text-01, MiniMax-M1 in transformers' format): lightning attention
    on layer_types' linear_attention layers (alternating from a full one by default), grouped-
    query attention without bias on the full ones, experts on every layer (a router without
    bias, softmax, the chosen renormalised, no shared expert), two norms a layer. A block's
    residual is its normalised input, scaled by the config's alpha and beta factors: counted
    as the two norms it has. The remote code's attn_type_list (1 for full attention) is read
    where layer_types is absent."""
    c = {**MINIMAX_DEFAULTS, **c}  # a null num_key_value_heads or head_dim: derived
    layers = get(c, "num_hidden_layers")
    types = _legacy(c["layer_types"])
    if types is None and c.get("attn_type_list") is not None:
        listed = c["attn_type_list"]
        if not isinstance(listed, list) or any(t not in (0, 1) for t in listed):
            raise UnsupportedConfigError("attn_type_list must list 0 (lightning) or 1 (full "
                                         "attention) per layer")
        types = ["full_attention" if t == 1 else "linear_attention" for t in listed]
    if types is None:
        types = ["full_attention" if i % 2 == 0 else "linear_attention" for i in range(layers)]
    unknown = sorted({str(t) for t in types} - set(MINIMAX_LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"layer_types has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(MINIMAX_LAYERS)}")
    if c.get("shared_intermediate_size"):
        raise UnsupportedConfigError("shared_intermediate_size: MiniMax's class builds no "
                                     "shared expert")
    out = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), d_ff=get(c, "intermediate_size"),
        vocab_size=get(c, "vocab_size"), norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"),
        **_attention(c, bias=False), **_swiglu(c), bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=_pattern([MINIMAX_LAYERS[t] for t in types], layers, "layer_types"),
        mlp_pattern=["moe"], n_experts=get(c, "num_local_experts"),
        experts_per_token=get(c, "num_experts_per_tok"), router_normalize=True)
    out["notes"] = [*out["notes"], "each block's residual is its normalised input, scaled by "
                                   "alpha and beta factors: counted as the two norms a block has"]
    return out


XLSTM_DEFAULTS = {
    "vocab_size": 50304, "hidden_size": 4096, "embedding_dim": None, "num_hidden_layers": 32,
    "num_blocks": None, "num_heads": 8, "use_bias": False, "tie_word_embeddings": False,
    "norm_eps": 1e-6, "qk_dim_factor": 0.5, "v_dim_factor": 1.0, "ffn_proj_factor": 2.667,
    "ffn_round_up_to_multiple_of": 64, "add_out_norm": True, "output_logit_soft_cap": 30.0}


def read_xlstm(c: Mapping[str, Any]) -> Config:
    """xLSTMConfig (xLSTM 7B): blocks of an mLSTM layer and a gated feed-forward of
    hidden_size x ffn_proj_factor rounded up to ffn_round_up_to_multiple_of, each after an
    RMSNorm, and one at the end; no bias anywhere but the input and forget gates' (use_bias
    true is refused). hidden_size and embedding_dim, num_hidden_layers and num_blocks stand for
    each other when one is null, as the class says."""
    c = {**XLSTM_DEFAULTS, **c}
    if c["hidden_size"] is None:
        c["hidden_size"] = c["embedding_dim"]
    if c["num_hidden_layers"] is None:
        c["num_hidden_layers"] = c["num_blocks"]
    d, heads = get(c, "hidden_size"), get(c, "num_heads")
    if get(c, "embedding_dim", default=d) != d:
        raise UnsupportedConfigError(f"embedding_dim {c['embedding_dim']} differs from "
                                     f"hidden_size {d}: xLSTM's blocks would not take it")
    if get(c, "num_blocks", default=c["num_hidden_layers"]) != get(c, "num_hidden_layers"):
        raise UnsupportedConfigError("num_blocks and num_hidden_layers differ: xLSTM builds "
                                     "num_blocks, its cache num_hidden_layers")
    if c["use_bias"]:
        raise UnsupportedConfigError("use_bias: xLSTM with biases on its norms and projections "
                                     "is not supported")
    # the layer's widths (its cache preallocates them rounded up to 64, and the layer's own
    # state replaces what it preallocated)
    widths = {key: int(d * get(c, key)) for key in ("qk_dim_factor", "v_dim_factor")}
    out = dict(
        n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
        d_ff=_up_to(d * get(c, "ffn_proj_factor"), get(c, "ffn_round_up_to_multiple_of")),
        vocab_size=get(c, "vocab_size"), context_length=NO_CONTEXT, position="none",
        norm="rmsnorm", norm_eps=get(c, "norm_eps"), activation="swiglu", bias=False,
        tie_embeddings=bool(c["tie_word_embeddings"]), attention_pattern=["mlstm"],
        final_softcap=get(c, "output_logit_soft_cap", default=None),
        mlstm_qk_dim=widths["qk_dim_factor"], mlstm_v_dim=widths["v_dim_factor"],
        notes=[NO_CONTEXT_NOTE])
    if not c["add_out_norm"]:
        out["notes"].append("add_out_norm false: transformers' class builds the final norm "
                            "all the same, and it is counted")
    return out


ZAMBA_LAYERS = {"linear_attention": False, "hybrid": True}  # layer type -> a shared block runs
# keys of the configs Zyphra published before transformers took Zamba2 in (their own fork's
# names): transformers ignores them and builds its defaults instead of the model they describe
ZYPHRA_FORK_KEYS = ("ffn_hidden_size", "lora_rank", "use_shared_block_lora",
                    "use_shared_attention_lora", "state_size", "expansion_factor",
                    "conv_dimension")


def _zamba_blocks(c: Mapping[str, Any], default: list[str]) -> list[bool]:
    """Per layer, whether a shared block runs before its Mamba mixer: layers_block_type (legacy
    "mamba" read as transformers renames it), else the class's default list, whose length is
    the depth the class builds whatever num_hidden_layers says."""
    types = _legacy(c.get("layers_block_type")) or default
    if not isinstance(types, list):
        raise UnsupportedConfigError("layers_block_type must be a list of layer types")
    unknown = sorted({str(t) for t in types} - set(ZAMBA_LAYERS))
    if unknown:
        raise UnsupportedConfigError(f"layers_block_type has {', '.join(unknown)}; zoo reads "
                                     f"{', '.join(ZAMBA_LAYERS)}")
    return [ZAMBA_LAYERS[t] for t in types]


def _zamba_shared(c: Mapping[str, Any], invokes: list[bool], blocks: int, **adapters: Any
                  ) -> Config:
    """The shared blocks' fields: as many blocks as the class builds (no more than there are
    invocations; none without a hybrid layer), and the pattern of the layers that invoke them."""
    built = min(blocks, sum(invokes))
    if not built:
        return {}
    return dict(shared_blocks=built, shared_block_pattern=shortest_period(invokes), **adapters)


def _concatenated(c: Mapping[str, Any], d: int) -> None:
    """The shared block reads the residual and the embedding side by side: an
    attention_hidden_size the config states (the classes take it) must be 2 x hidden_size."""
    if get(c, "attention_hidden_size", default=2 * d) != 2 * d:
        raise UnsupportedConfigError(f"attention_hidden_size {c['attention_hidden_size']}: the "
                                     f"shared block's input is 2 x hidden_size ({2 * d})")


def _zamba_common(c: Mapping[str, Any], invokes: list[bool], head_dim: int) -> Config:
    """What Zamba and Zamba2 share: a Mamba layer (one RMSNorm before the mixer, no MLP) on
    every layer, and the shared attention's geometry (head_dim of the 2 x hidden_size input,
    scores scaled by 1/sqrt(head_dim / 2), no bias)."""
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    return dict(
        n_layer=len(invokes), d_model=d, n_head=heads,
        n_kv_head=get(c, "num_key_value_heads", default=heads), d_head=head_dim,
        query_pre_attn_scalar=head_dim / 2, vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), norm="rmsnorm",
        norm_eps=get(c, "rms_norm_eps"), bias=False, qkv_bias=False, attn_out_bias=False,
        mlp_pattern=["none"], tie_embeddings=bool(get(c, "tie_word_embeddings")),
        **_swiglu(c))


ZAMBA2_DEFAULTS = {
    "vocab_size": 32000, "max_position_embeddings": 4096, "hidden_size": 2560,
    "num_hidden_layers": 54, "layers_block_type": None, "mamba_d_state": 64,
    "mamba_d_conv": 4, "mamba_expand": 2, "mamba_ngroups": 1, "n_mamba_heads": 8,
    "add_bias_linear": False, "intermediate_size": None, "hidden_act": "gelu",
    "num_attention_heads": 32, "num_key_value_heads": None, "num_mem_blocks": 1,
    "use_shared_attention_adapter": False, "adapter_rank": 128, "use_mem_rope": False,
    "rms_norm_eps": 1e-5, "use_long_context": False, "tie_word_embeddings": True}
# Zamba2Config's default layers: a hybrid layer after every five Mamba-2 ones, then closer
ZAMBA2_LAYERS = (["linear_attention"] + (["linear_attention"] * 5 + ["hybrid"]) * 7
                 + ["linear_attention"] * 4 + ["hybrid"] + ["linear_attention"] * 3 + ["hybrid"]
                 + ["linear_attention"] * 2)


def read_zamba2(c: Mapping[str, Any]) -> Config:
    """Zamba2Config (Zamba2-1.2B, 2.7B, 7B): a Mamba-2 layer on every layer (its convolution
    always with a bias, add_bias_linear on its projections and the shared MLP's); before the
    mixer of each hybrid layer, one of num_mem_blocks shared transformer blocks in turn
    (attention of 2 x hidden_size / heads per head, a gated MLP of intermediate_size, default
    4 x hidden_size), each invocation with its own linear and LoRA adapters of adapter_rank on
    the MLP's gate and up (and on q, k, v with use_shared_attention_adapter); rotary in the
    shared attention only with use_mem_rope. The class derives the attention's width and
    head_dim, then takes them from the config where it states them (attention_hidden_size
    other than 2 x hidden_size is refused: the block's input is that concatenation)."""
    forked = [key for key in ZYPHRA_FORK_KEYS if key in c]
    if forked:
        raise UnsupportedConfigError(
            f"{forked[0]}: a config in the format of Zyphra's fork before transformers took "
            f"Zamba2 in; transformers' Zamba2Config reads intermediate_size, mamba_d_state, "
            f"n_mamba_heads, adapter_rank and would build its defaults instead of this model")
    c = {**ZAMBA2_DEFAULTS, **c}
    invokes = _zamba_blocks(c, ZAMBA2_LAYERS)
    d = get(c, "hidden_size")
    _concatenated(c, d)
    inner = int(get(c, "mamba_expand") * d)
    out: Config = dict(
        **_zamba_common(c, invokes, get(c, "head_dim", "attention_head_dim",
                                        default=2 * d // get(c, "num_attention_heads"))),
        d_ff=get(c, "intermediate_size", default=4 * d) or 4 * d,
        mlp_bias=bool(c["add_bias_linear"]), attention_pattern=["mamba2"],
        ssm_d_inner=inner, ssm_d_state=get(c, "mamba_d_state"),
        ssm_conv_kernel=get(c, "mamba_d_conv"), ssm_n_head=get(c, "n_mamba_heads"),
        ssm_n_group=get(c, "mamba_ngroups"), ssm_proj_bias=bool(c["add_bias_linear"]),
        ssm_conv_bias=True,
        **_zamba_shared(c, invokes, get(c, "num_mem_blocks"),
                        shared_adapter_rank=get(c, "adapter_rank"),
                        shared_attention_adapters=bool(c["use_shared_attention_adapter"])))
    if c["use_mem_rope"]:
        out.update(position="rotary", **read_rope(c))
        if c["use_long_context"]:
            out["context_length"] = 16384
    else:
        out["position"] = "none"
    return out


ZAMBA_DEFAULTS = {
    "vocab_size": 32000, "tie_word_embeddings": True, "hidden_size": 3712,
    "attention_hidden_size": None, "intermediate_size": 14848, "num_hidden_layers": 76,
    "num_attention_heads": 16, "attention_head_dim": None, "num_key_value_heads": 16,
    "n_mamba_heads": 2, "hidden_act": "gelu", "rms_norm_eps": 1e-5,
    "max_position_embeddings": 4096, "attn_layer_period": 6, "attn_layer_offset": 4,
    "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto",
    "mamba_conv_bias": True, "mamba_proj_bias": False, "layers_block_type": None}


def read_zamba(c: Mapping[str, Any]) -> Config:
    """ZambaConfig (Zamba-7B): a Mamba layer (per-head x_proj and dt_proj, the same shapes as
    Mamba's) on every layer; before the mixer of each hybrid layer the one shared transformer
    block (attention over the 2 x hidden_size concatenation, attention_head_dim per head, a
    gated MLP of intermediate_size, no bias), with a linear of its own per invocation. Hybrid
    layers: layers_block_type, else the third and every attn_layer_period-th from
    attn_layer_offset after it (num_hidden_layers - 3 of them, after three)."""
    c = {**ZAMBA_DEFAULTS, **c}
    d = get(c, "hidden_size")
    _concatenated(c, d)
    period, offset = get(c, "attn_layer_period"), get(c, "attn_layer_offset")
    default = ["linear_attention", "linear_attention", "hybrid"] + [
        "hybrid" if i % period == offset else "linear_attention"
        for i in range(get(c, "num_hidden_layers") - 3)]
    invokes = _zamba_blocks(c, default)
    head_dim = get(c, "attention_head_dim", default=2 * d // get(c, "num_attention_heads"))
    return dict(
        **_zamba_common(c, invokes, head_dim), d_ff=get(c, "intermediate_size"),
        position="none", attention_pattern=["mamba"],
        ssm_d_inner=get(c, "mamba_expand") * d, ssm_d_state=get(c, "mamba_d_state"),
        ssm_conv_kernel=get(c, "mamba_d_conv"), ssm_dt_rank=_dt_rank(c, "mamba_dt_rank"),
        ssm_proj_bias=bool(c["mamba_proj_bias"]), ssm_conv_bias=bool(c["mamba_conv_bias"]),
        **_zamba_shared(c, invokes, 1))


# model_type -> (class, base model's prefix, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, str, Reader]] = {
    "lfm2": ("Lfm2ForCausalLM", "model.", "qwen3", read_lfm2),
    "rwkv": ("RwkvForCausalLM", "rwkv.", "qwen3_next", read_rwkv),
    "lfm3": ("Lfm3ForCausalLM", "model.", "qwen3", read_lfm3),
    "olmo_hybrid": ("OlmoHybridForCausalLM", "model.", "qwen3_next", read_olmo_hybrid),
    "recurrent_gemma": ("RecurrentGemmaForCausalLM", "model.", "gemma2", read_recurrent_gemma),
    "falcon_h1": ("FalconH1ForCausalLM", "model.", "mamba2", read_falcon_h1),
    "minimax": ("MiniMaxForCausalLM", "model.", "qwen3_next", read_minimax),
    "xlstm": ("xLSTMForCausalLM", "backbone.", "qwen3_next", read_xlstm),
    "zamba": ("ZambaForCausalLM", "model.", "mamba", read_zamba),
    "zamba2": ("Zamba2ForCausalLM", "model.", "mamba2", read_zamba2),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 910
ENTRIES = tuple(
    Architecture(model_type=model_type, hf_class=hf_class, read=read, write=refuse_write,
                 tensors={}, prefix=prefix, nearest=nearest)
    for model_type, (hf_class, prefix, nearest, read) in COUNTED.items())
