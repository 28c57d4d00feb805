"""Google's Gemma 4 (gemma4_text; gemma4's multimodal config is read for its text decoder).

Gemma 3's sandwich-normed, GeGLU, local/global decoder, with these changes (transformers'
Gemma4TextConfig and modeling_gemma4 are the reference): plain RMSNorm (scale w, not 1 + w)
and an RMSNorm without weight on each value head; unscaled scores (scaling 1.0, after the q and
k norms); global layers of their own head width (global_head_dim) with proportional RoPE on a
share of each head, and, with attention_k_eq_v, no value projection and their own kv-head count
(num_global_key_value_heads); the last num_kv_shared_layers layers reuse earlier keys and values
(no projections of their own; E2B's MLPs there double-wide); per-layer input embeddings
(hidden_size_per_layer_input, E2B and E4B); and, with enable_moe_block, routed experts beside
the dense MLP in every layer (26B-A4B).

Configs omit what their class defaults, and Gemma4TextConfig's defaults are not zero for
everything (hidden_size_per_layer_input defaults to 256, global_head_dim to 512): the reader
applies the same defaults as transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    LAYER_TYPES,
    Architecture,
    Config,
    Source,
    UnsupportedConfigError,
    fused,
    get,
    linear,
    norm,
    same,
    shortest_period,
    text_decoder_of,
    write_layer_types,
)
from zoo.spec import ModelSpec

# transformers' Gemma4TextConfig defaults, for what a published config leaves out
DEFAULTS: dict[str, Any] = {
    "vocab_size": 262144, "hidden_size": 2304, "intermediate_size": 9216,
    "num_hidden_layers": 30, "num_attention_heads": 8, "num_key_value_heads": 4,
    "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    "attention_bias": False, "sliding_window": 512, "final_logit_softcapping": None,
    "use_bidirectional_attention": None, "vocab_size_per_layer_input": 262144,
    "hidden_size_per_layer_input": 256, "attention_k_eq_v": False, "num_kv_shared_layers": 0,
    "enable_moe_block": False, "use_double_wide_mlp": False, "num_experts": None,
    "top_k_experts": None, "moe_intermediate_size": None,
    # read by __post_init__ from its keyword arguments
    "global_head_dim": 512, "num_global_key_value_heads": None,
}
ROPE_DEFAULTS = {
    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                       "rope_theta": 1000000.0},
}
LAYER = "model.layers.{i}"
SLIDING_PERIOD = 6  # transformers' layer_types when the config has none: five sliding, one full


def _layer_kinds(c: Mapping[str, Any], layers: int) -> list[str]:
    types = list(c.get("layer_types") or [
        "sliding_attention" if (i + 1) % SLIDING_PERIOD else "full_attention"
        for i in range(layers)])
    if len(types) != layers:
        raise UnsupportedConfigError(f"layer_types has {len(types)} entries for "
                                     f"{layers} layers")
    unknown = sorted({t for t in types if t not in LAYER_TYPES})
    if unknown:
        raise UnsupportedConfigError(f"layer_types {', '.join(unknown)} are not supported; zoo "
                                     f"reads {', '.join(LAYER_TYPES)}")
    types[-1] = "full_attention"  # transformers forces the last layer global
    return [LAYER_TYPES[t] for t in types]


def _read_rope(c: Mapping[str, Any], kinds: list[str]) -> Config:
    """Global layers: rope_theta, proportional RoPE on partial_rotary_factor of each head (or
    plain RoPE over all of it); local layers: their own base, plain."""
    params = c.get("rope_parameters") or ROPE_DEFAULTS
    out: Config = {}
    for layer_type, kind in LAYER_TYPES.items():
        if kind not in kinds:
            continue
        p = params.get(layer_type)
        if not isinstance(p, Mapping):
            raise UnsupportedConfigError(f"rope_parameters has no {layer_type!r} entry")
        rope_type = p.get("rope_type", "default")
        theta = float(get(p, "rope_theta"))
        if kind == "local":
            if rope_type != "default":
                raise UnsupportedConfigError(f"rope_type {rope_type!r} on sliding layers is not "
                                             f"supported (zoo reads default)")
            out["local_rope_theta"] = theta
            continue
        out["rope_theta"] = theta
        if rope_type == "proportional":
            if float(p.get("factor", 1.0)) != 1.0:
                raise UnsupportedConfigError("proportional RoPE with a factor is not supported")
            fraction = float(p.get("partial_rotary_factor", 1.0))
            if fraction != 1.0:
                out["global_rotary_fraction"] = fraction
        elif rope_type != "default":
            raise UnsupportedConfigError(f"rope_type {rope_type!r} on full-attention layers is "
                                         f"not supported (zoo reads proportional, default)")
    if "global" not in kinds:  # every layer local: their base is the spec's one base
        out["rope_theta"] = out.pop("local_rope_theta")
    return out


def _global_geometry(c: Mapping[str, Any], kinds: list[str],
                     k_eq_v: bool) -> tuple[int, int | None]:
    """The global layers' head width and kv heads: from per_layer_config (what transformers
    writes back: per layer index, the overrides), else from the keyword arguments published
    configs carry (global_head_dim; num_global_key_value_heads, used only with
    attention_k_eq_v)."""
    overrides = c.get("per_layer_config")
    if overrides is None:
        dim = c["global_head_dim"] or c["head_dim"]
        return dim, c["num_global_key_value_heads"] if k_eq_v else None
    by_layer = {int(k): dict(v) for k, v in overrides.items()}
    unknown = {key for v in by_layer.values() for key in v} - {"head_dim", "num_key_value_heads"}
    if unknown:
        raise UnsupportedConfigError(f"per_layer_config overrides {', '.join(sorted(unknown))}; "
                                     f"zoo reads head_dim and num_key_value_heads")
    globals_ = [i for i, kind in enumerate(kinds) if kind == "global"]
    seen = {tuple(sorted(by_layer.get(i, {}).items())) for i in globals_}
    if set(by_layer) - set(globals_) or len(seen) > 1:
        raise UnsupportedConfigError("per_layer_config overrides layers unevenly; zoo reads "
                                     "one override for every full-attention layer")
    one = by_layer.get(globals_[0], {}) if globals_ else {}
    return one.get("head_dim", c["head_dim"]), one.get("num_key_value_heads")


def read_gemma4(config: Mapping[str, Any], defaults: Mapping[str, Any] = DEFAULTS) -> Config:
    """Gemma4TextConfig's fields (or, with `defaults`, a sibling class's that defaults them
    otherwise: Gemma 4 Unified's)."""
    c = {**defaults, **config}  # an explicit null means what it means to transformers
    act = c["hidden_activation"]
    if act not in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):
        raise UnsupportedConfigError(f"hidden_activation {act!r}: zoo's Gemma MLP is GeGLU "
                                     f"with tanh GELU")
    if c["use_bidirectional_attention"] == "all":
        raise UnsupportedConfigError("use_bidirectional_attention 'all' is an encoder; zoo "
                                     "builds causal decoders")
    layers = get(c, "num_hidden_layers")
    kinds = _layer_kinds(c, layers)
    has_global = "global" in kinds
    head_dim = get(c, "head_dim")
    k_eq_v = bool(c["attention_k_eq_v"]) and has_global
    shared = int(c["num_kv_shared_layers"])
    if shared >= layers:
        raise UnsupportedConfigError(f"num_kv_shared_layers {shared} of {layers} layers: no "
                                     f"layer is left to make keys and values")
    bias = bool(c["attention_bias"])
    out: Config = dict(
        n_layer=layers, d_model=get(c, "hidden_size"), n_head=get(c, "num_attention_heads"),
        n_kv_head=get(c, "num_key_value_heads"), d_head=head_dim,
        d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="rotary",
        norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), norm_position="sandwich",
        qk_norm="head", value_norm=True, layer_scalar=True, scale_embeddings=True,
        activation="geglu",
        bias=False, qkv_bias=bias, attn_out_bias=bias, query_pre_attn_scalar=1.0,
        final_softcap=c["final_logit_softcapping"] or None,
        tie_embeddings=bool(c["tie_word_embeddings"]),
        attention_pattern=shortest_period(kinds), **_read_rope(c, kinds))
    if "local" in kinds:
        out["local_window"] = get(c, "sliding_window")
    global_dim, global_kv = _global_geometry(c, kinds, k_eq_v)
    if global_dim != head_dim:
        out["global_d_head"] = global_dim
    if global_kv is not None and global_kv != out["n_kv_head"]:
        out["global_kv_heads"] = global_kv
    if k_eq_v:
        out["global_values_from_keys"] = True
    if shared:
        out["kv_shared_layers"] = shared
        out["double_wide_shared_mlp"] = bool(c["use_double_wide_mlp"])
    if c["hidden_size_per_layer_input"]:
        out["per_layer_embed_dim"] = c["hidden_size_per_layer_input"]
        if c["vocab_size_per_layer_input"] != out["vocab_size"]:
            out["per_layer_vocab"] = c["vocab_size_per_layer_input"]
    if c["enable_moe_block"]:
        out.update(n_experts=get(c, "num_experts"), experts_per_token=get(c, "top_k_experts"),
                   d_ff_expert=get(c, "moe_intermediate_size"), dense_mlp_with_experts=True,
                   router_scales=True)
    return out


def write_gemma4(s: ModelSpec) -> Config:
    """What the reader reads back; write_config checks the round trip, so a spec this cannot
    express (Gemma 3's (1 + w) norms, a router without Gemma 4's scales) is refused there."""
    config: Config = {
        "num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
        "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
        "head_dim": s.head_dim, "intermediate_size": s.d_ff,
        "max_position_embeddings": s.context_length, "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": s.norm_eps, "attention_bias": s.has_bias("qkv"),
        "final_logit_softcapping": s.final_softcap, "layer_types": write_layer_types(s),
        "sliding_window": s.local_window if s.has_local else DEFAULTS["sliding_window"],
        "global_head_dim": s.global_head_dim,
        "attention_k_eq_v": s.global_values_from_keys,
        "num_global_key_value_heads": s.global_kv if s.global_values_from_keys else None,
        "num_kv_shared_layers": s.kv_shared_layers,
        "use_double_wide_mlp": s.double_wide_shared_mlp,
        "hidden_size_per_layer_input": s.per_layer_embed_dim or 0,
        "vocab_size_per_layer_input": s.per_layer_vocab_size,
        "enable_moe_block": s.moe,
    }
    if s.global_kv_heads is not None and not s.global_values_from_keys:
        raise UnsupportedConfigError("Gemma 4 gives global layers their own kv heads only with "
                                     "attention_k_eq_v")
    full: Config = {"rope_type": "default", "rope_theta": s.rope_theta}
    if s.global_rotary_fraction is not None:
        full = {"rope_type": "proportional", "partial_rotary_factor": s.global_rotary_fraction,
                "rope_theta": s.rope_theta}
    local = s.local_rope_theta if s.local_rope_theta is not None else s.rope_theta
    config["rope_parameters"] = {"full_attention": full, "sliding_attention": {
        "rope_type": "default", "rope_theta": local}}
    if s.moe:
        config.update(num_experts=s.n_experts, top_k_experts=s.experts_per_token,
                      moe_intermediate_size=s.expert_width)
    return config


def read_gemma4_multimodal(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Gemma 4 image(-audio)-text model; its vision and audio towers are
    not counted here (the spec's notes give the whole model's count). Its head is tied by the
    wrapper's own tie_word_embeddings (default true), not text_config's, as transformers ties
    it."""
    text = read_gemma4(c.get("text_config") or {})
    text["tie_embeddings"] = bool(c.get("tie_word_embeddings", True))
    return text_decoder_of(text, "Gemma4ForConditionalGeneration", "vision and audio towers")


def write_none(s: ModelSpec) -> Config:
    raise UnsupportedConfigError("zoo writes Gemma 4's text decoder as gemma4_text")


ATTN = f"{LAYER}.self_attn"
TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **same("per_layer_embed.weight", "model.embed_tokens_per_layer.weight"),
    **same("per_layer_project.weight", "model.per_layer_model_projection.weight"),
    **norm("per_layer_norm", "model.per_layer_projection_norm"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_attention_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.pre_feedforward_layernorm"),
    **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_feedforward_layernorm"),
    **norm("blocks.{i}.post_dense_norm", f"{LAYER}.post_feedforward_layernorm_1"),
    **norm("blocks.{i}.pre_moe_norm", f"{LAYER}.pre_feedforward_layernorm_2"),
    **norm("blocks.{i}.post_moe_norm", f"{LAYER}.post_feedforward_layernorm_2"),
    **linear("blocks.{i}.attn.q", f"{ATTN}.q_proj"),
    **linear("blocks.{i}.attn.k", f"{ATTN}.k_proj"),
    **linear("blocks.{i}.attn.v", f"{ATTN}.v_proj"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    **norm("blocks.{i}.attn.q_norm", f"{ATTN}.q_norm"),
    **norm("blocks.{i}.attn.k_norm", f"{ATTN}.k_norm"),
    **fused("blocks.{i}.mlp.fc_in", (f"{LAYER}.mlp.gate_proj", f"{LAYER}.mlp.up_proj"),
            "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.down_proj"),
    # the experts as transformers and the hub store them: fused, (experts, [gate; up], d)
    **same("blocks.{i}.moe.router.weight", f"{LAYER}.router.proj.weight"),
    **same("blocks.{i}.moe.router_scale", f"{LAYER}.router.scale"),
    **same("blocks.{i}.moe.expert_scale", f"{LAYER}.router.per_expert_scale"),
    **same("blocks.{i}.moe.experts.fc_in", f"{LAYER}.experts.gate_up_proj"),
    **same("blocks.{i}.moe.experts.fc_out", f"{LAYER}.experts.down_proj"),
    **same("blocks.{i}.per_layer_gate.weight", f"{LAYER}.per_layer_input_gate.weight"),
    **same("blocks.{i}.per_layer_out.weight", f"{LAYER}.per_layer_projection.weight"),
    **norm("blocks.{i}.per_layer_norm", f"{LAYER}.post_per_layer_input_norm"),
    **same("blocks.{i}.layer_scalar", f"{LAYER}.layer_scalar"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}
# published checkpoints keep k/v projections and norms for the layers that share keys and
# values (transformers builds none and ignores them, as zoo does)
SHARED_KV = tuple(f"model.layers.{{shared}}.self_attn.{name}."
                  for name in ("k_proj", "v_proj", "k_norm", "v_norm"))
# the multimodal checkpoint's towers and their projections, which zoo does not count or build
TOWERS = ("model.vision_tower.", "model.embed_vision.", "model.audio_tower.",
          "model.embed_audio.")
MULTIMODAL_TENSORS = {k: Source(tuple(h.replace("model.", "model.language_model.", 1)
                                      for h in v.hf), v.transform)
                      for k, v in TENSORS.items()}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 152
ENTRIES = (
    Architecture(model_type="gemma4_text", hf_class="Gemma4ForCausalLM", read=read_gemma4,
                 write=write_gemma4, tensors=TENSORS, prefix="model.", ignore=SHARED_KV),
    Architecture(model_type="gemma4", hf_class="Gemma4ForConditionalGeneration",
                 read=read_gemma4_multimodal, write=write_none,
                 prefix="model.language_model.", tensors=MULTIMODAL_TENSORS,
                 ignore=(*(p.replace("model.", "model.language_model.", 1) for p in SHARED_KV),
                         *TOWERS)),
)
