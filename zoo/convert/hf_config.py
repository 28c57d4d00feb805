"""Hugging Face `config.json` <-> ModelSpec, for the ten architectures transformers and zoo share.

Pure data, no torch and no transformers: the readers accept the published configs as they are on
the hub (legacy keys such as `rotary_pct`, `n_embed` or Falcon's `RefinedWeb` included), and the
writers emit configs that transformers 4.x and 5.x both read. Each writer is checked by reading
its own output back: `to_hf_config` only answers when the round trip reproduces the
architecture exactly, so a spec that no transformers class can express is refused, not
approximated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from zoo.spec import (
    ModelSpec,
    SpecError,
    architecture_difference,
    architecture_key,
    spec_from_mapping,
)

Config = dict[str, Any]


class UnsupportedConfigError(ValueError):
    """A config (or spec) that zoo cannot translate exactly; the message says which key."""


# activation names: transformers' ACT2FN key <-> zoo
_ACT_FROM_HF = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                "gelu": "gelu", "relu": "relu", "silu": "silu", "swish": "silu"}
_ACT_TO_HF = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu"}


def _get(config: Mapping[str, Any], *keys: str, default: Any = ...) -> Any:
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    if default is ...:
        raise UnsupportedConfigError(f"config.json has no {' / '.join(keys)}")
    return default


def _activation(name: Any, key: str) -> str:
    if name not in _ACT_FROM_HF:
        raise UnsupportedConfigError(f"{key} {name!r} is not supported; zoo knows "
                                     f"{', '.join(sorted(_ACT_FROM_HF))}")
    return _ACT_FROM_HF[name]


def _act_to_hf(spec: ModelSpec) -> str:
    if spec.activation not in _ACT_TO_HF:
        raise UnsupportedConfigError(f"activation {spec.activation} has no equivalent here")
    return _ACT_TO_HF[spec.activation]


def _rope(config: Mapping[str, Any], default_fraction: float = 1.0) -> dict[str, Any]:
    """rope_theta and the rotated fraction, from v5 `rope_parameters` or the legacy keys."""
    params = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    kind = params.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if kind not in ("default", None):
        raise UnsupportedConfigError(f"rope scaling {kind!r} is not supported (only plain RoPE)")
    theta = params.get("rope_theta", _get(config, "rope_theta", "rotary_emb_base",
                                          default=10000.0))
    fraction = params.get("partial_rotary_factor",
                          _get(config, "partial_rotary_factor", "rotary_pct",
                               default=default_fraction))
    return {"rope_theta": float(theta), "rotary_fraction": float(fraction)}


def _shortest_period(kinds: list[str]) -> list[str]:
    """The shortest pattern that, cycled, gives this per-layer list."""
    for period in range(1, len(kinds)):
        if len(kinds) % period == 0 and kinds == kinds[:period] * (len(kinds) // period):
            return kinds[:period]
    return kinds


# --- readers: config.json -> spec fields --------------------------------------------------

def _read_openai_gpt(c: Mapping[str, Any]) -> Config:
    d = _get(c, "n_embd", "hidden_size")
    return dict(n_layer=_get(c, "n_layer", "num_hidden_layers"), d_model=d,
                n_head=_get(c, "n_head", "num_attention_heads"), d_ff=4 * d,
                vocab_size=_get(c, "vocab_size"), context_length=_get(c, "n_positions", "n_ctx"),
                # openai-gpt's "gelu" is the tanh form (transformers maps it to gelu_new)
                activation=_activation({"gelu": "gelu_new"}.get(c.get("afn", "gelu"),
                                                                c.get("afn")), "afn"),
                norm_eps=_get(c, "layer_norm_epsilon", default=1e-5), norm_position="post",
                final_norm=False, tie_embeddings=c.get("tie_word_embeddings", True))


def _read_gpt2(c: Mapping[str, Any]) -> Config:
    if c.get("scale_attn_by_inverse_layer_idx") or c.get("reorder_and_upcast_attn"):
        raise UnsupportedConfigError("GPT-2 configs with scale_attn_by_inverse_layer_idx or "
                                     "reorder_and_upcast_attn are not supported")
    d = _get(c, "n_embd", "hidden_size")
    return dict(n_layer=_get(c, "n_layer"), d_model=d, n_head=_get(c, "n_head"),
                d_ff=_get(c, "n_inner", default=4 * d), vocab_size=_get(c, "vocab_size"),
                context_length=_get(c, "n_positions", "n_ctx"),
                activation=_activation(c.get("activation_function", "gelu_new"),
                                       "activation_function"),
                norm_eps=_get(c, "layer_norm_epsilon", default=1e-5),
                scale_attention=c.get("scale_attn_weights", True),
                tie_embeddings=c.get("tie_word_embeddings", True))


def _read_gpt_neo(c: Mapping[str, Any]) -> Config:
    d = _get(c, "hidden_size")
    kinds = [kind for pattern, repeat in _get(c, "attention_types") for _ in range(repeat)
             for kind in pattern]
    pattern = _shortest_period(kinds)
    out = dict(n_layer=_get(c, "num_layers"), d_model=d, n_head=_get(c, "num_heads"),
               d_ff=_get(c, "intermediate_size", default=4 * d), vocab_size=_get(c, "vocab_size"),
               context_length=_get(c, "max_position_embeddings"),
               activation=_activation(c.get("activation_function", "gelu_new"),
                                      "activation_function"),
               norm_eps=_get(c, "layer_norm_epsilon", default=1e-5), qkv_bias=False,
               scale_attention=False, attention_pattern=pattern,
               tie_embeddings=c.get("tie_word_embeddings", True))
    if "local" in pattern:
        out["local_window"] = _get(c, "window_size", default=256)
    return out


def _read_gptj(c: Mapping[str, Any]) -> Config:
    d, heads = _get(c, "n_embd"), _get(c, "n_head")
    rotary_dim = _get(c, "rotary_dim", default=d // heads)
    return dict(n_layer=_get(c, "n_layer"), d_model=d, n_head=heads,
                d_ff=_get(c, "n_inner", default=4 * d), vocab_size=_get(c, "vocab_size"),
                context_length=_get(c, "n_positions"), position="rotary",
                rotary_fraction=rotary_dim / (d // heads), rotary_style="interleaved",
                rope_theta=_rope(c)["rope_theta"], block="parallel",
                activation=_activation(c.get("activation_function", "gelu_new"),
                                       "activation_function"),
                norm_eps=_get(c, "layer_norm_epsilon", default=1e-5), bias=False,
                mlp_bias=True, head_bias=True, tie_embeddings=c.get("tie_word_embeddings", False))


def _read_gpt_neox(c: Mapping[str, Any]) -> Config:
    bias = c.get("attention_bias", True)
    return dict(n_layer=_get(c, "num_hidden_layers"), d_model=_get(c, "hidden_size"),
                n_head=_get(c, "num_attention_heads"), d_ff=_get(c, "intermediate_size"),
                vocab_size=_get(c, "vocab_size"),
                context_length=_get(c, "max_position_embeddings"), position="rotary",
                **_rope(c, default_fraction=0.25),
                block="parallel_two_norms" if c.get("use_parallel_residual", True)
                else "sequential",
                activation=_activation(c.get("hidden_act", "gelu"), "hidden_act"),
                norm_eps=_get(c, "layer_norm_eps", default=1e-5), qkv_bias=bias,
                attn_out_bias=bias, mlp_bias=True,
                tie_embeddings=c.get("tie_word_embeddings", False))


def _read_opt(c: Mapping[str, Any]) -> Config:
    if not c.get("layer_norm_elementwise_affine", True):
        raise UnsupportedConfigError("OPT with layer_norm_elementwise_affine false is not "
                                     "supported")
    d = _get(c, "hidden_size")
    pre = c.get("do_layer_norm_before", True)
    embed = _get(c, "word_embed_proj_dim", default=d)
    out = dict(n_layer=_get(c, "num_hidden_layers"), d_model=d,
               n_head=_get(c, "num_attention_heads"), d_ff=_get(c, "ffn_dim"),
               vocab_size=_get(c, "vocab_size"),
               context_length=_get(c, "max_position_embeddings"), position_offset=2,
               activation=_activation(c.get("activation_function", "relu"),
                                      "activation_function"),
               norm_position="pre" if pre else "post",
               final_norm=bool(pre and not c.get("_remove_final_layer_norm", False)),
               bias=c.get("enable_bias", True), tie_embeddings=c.get("tie_word_embeddings", True))
    if embed != d:
        out["embed_dim"] = embed
    return out


def _read_bloom(c: Mapping[str, Any]) -> Config:
    if c.get("apply_residual_connection_post_layernorm"):
        raise UnsupportedConfigError("BLOOM with apply_residual_connection_post_layernorm is "
                                     "not supported")
    d = _get(c, "hidden_size", "n_embed")
    return dict(n_layer=_get(c, "n_layer", "num_hidden_layers"), d_model=d,
                n_head=_get(c, "n_head", "num_attention_heads"), d_ff=4 * d,
                vocab_size=_get(c, "vocab_size"), context_length=_get(c, "seq_length",
                                                                      default=2048),
                position="alibi", embedding_norm=True, activation="gelu_tanh",
                norm_eps=_get(c, "layer_norm_epsilon", default=1e-5),
                tie_embeddings=c.get("tie_word_embeddings", True))


def _read_llama(c: Mapping[str, Any]) -> Config:
    d, heads = _get(c, "hidden_size"), _get(c, "num_attention_heads")
    act = c.get("hidden_act", "silu")
    if act != "silu":
        raise UnsupportedConfigError(f"hidden_act {act!r}: zoo's gated MLP is SwiGLU (silu)")
    if c.get("mlp_bias") and not c.get("attention_bias"):
        raise UnsupportedConfigError("mlp_bias without attention_bias is not supported")
    out = dict(n_layer=_get(c, "num_hidden_layers"), d_model=d, n_head=heads,
               n_kv_head=_get(c, "num_key_value_heads", default=heads),
               d_head=_get(c, "head_dim", default=d // heads), d_ff=_get(c, "intermediate_size"),
               vocab_size=_get(c, "vocab_size"),
               context_length=_get(c, "max_position_embeddings"), position="rotary",
               rope_theta=_rope(c)["rope_theta"], norm="rmsnorm",
               norm_eps=_get(c, "rms_norm_eps", default=1e-6), activation="swiglu",
               bias=False, qkv_bias=bool(c.get("attention_bias", False)),
               attn_out_bias=bool(c.get("attention_bias", False)),
               mlp_bias=bool(c.get("mlp_bias", False)),
               tie_embeddings=c.get("tie_word_embeddings", False))
    window = c.get("sliding_window")
    if window is not None and c.get("use_sliding_window", True):
        out.update(attention_pattern=["local"], local_window=window)
    return out


def _read_falcon(c: Mapping[str, Any]) -> Config:
    if c.get("alibi"):
        raise UnsupportedConfigError("Falcon with alibi (Falcon-RW) is not supported")
    d = _get(c, "hidden_size", "n_embed")
    heads = _get(c, "num_attention_heads", "n_head")
    new = c.get("new_decoder_architecture", c.get("model_type") == "RefinedWeb")
    if new:
        kv = _get(c, "num_kv_heads", "n_head_kv", default=heads)
        block = "parallel_two_norms" if c.get("num_ln_in_parallel_attn") in (None, 2) \
            else "parallel"
    else:
        kv = 1 if c.get("multi_query", True) else heads
        block = "parallel" if c.get("parallel_attn", True) else "sequential"
    return dict(n_layer=_get(c, "num_hidden_layers", "n_layer"), d_model=d, n_head=heads,
                n_kv_head=kv, d_ff=_get(c, "ffn_hidden_size", default=4 * d),
                vocab_size=_get(c, "vocab_size"),
                context_length=_get(c, "max_position_embeddings", default=2048),
                position="rotary", rope_theta=_rope(c)["rope_theta"], block=block,
                activation=_activation(c.get("activation", "gelu"), "activation"),
                norm_eps=_get(c, "layer_norm_epsilon", default=1e-5),
                bias=bool(c.get("bias", False)),
                tie_embeddings=c.get("tie_word_embeddings", True))


READERS: dict[str, Callable[[Mapping[str, Any]], Config]] = {
    "openai-gpt": _read_openai_gpt, "gpt2": _read_gpt2, "gpt_neo": _read_gpt_neo,
    "gptj": _read_gptj, "gpt_neox": _read_gpt_neox, "opt": _read_opt, "bloom": _read_bloom,
    "llama": _read_llama, "mistral": _read_llama, "falcon": _read_falcon,
}
MODEL_TYPE_ALIASES = {"openai_gpt": "openai-gpt", "RefinedWebModel": "falcon",
                      "RefinedWeb": "falcon", "gpt-j": "gptj", "gpt-neox": "gpt_neox"}


def model_type_of(config: Mapping[str, Any]) -> str:
    raw = config.get("model_type")
    model_type = MODEL_TYPE_ALIASES.get(raw, raw)
    if model_type not in READERS:
        raise UnsupportedConfigError(
            f"model_type {raw!r} is not supported; zoo reads {', '.join(sorted(READERS))}")
    return model_type


def spec_fields_from_hf_config(config: Mapping[str, Any]) -> Config:
    """The architecture fields (no name or provenance) that a config.json describes."""
    model_type = model_type_of(config)
    try:
        return READERS[model_type](config)
    except (TypeError, KeyError, ZeroDivisionError) as err:
        raise UnsupportedConfigError(f"malformed {model_type} config.json: {err!r}") from None


def from_hf_config(config: Mapping[str, Any], *, name: str = "hf-model",
                   family: str | None = None, **provenance: Any) -> ModelSpec:
    """A ModelSpec from a config.json mapping; fields the config omits take transformers'
    defaults for that architecture."""
    fields = spec_fields_from_hf_config(config)
    family = family or model_type_of(config).replace("_", "-")
    return spec_from_mapping({"name": name, "family": family, **fields, **provenance})


# --- writers: spec -> config.json ----------------------------------------------------------

def _common(spec: ModelSpec, model_type: str, architecture: str) -> Config:
    return {"model_type": model_type, "architectures": [architecture],
            "vocab_size": spec.vocab_size, "tie_word_embeddings": spec.tie_embeddings}


def _rope_out(spec: ModelSpec, legacy: dict[str, str]) -> Config:
    """Rotary settings in both spellings: v5's rope_parameters and the legacy top-level keys."""
    params: Config = {"rope_type": "default", "rope_theta": spec.rope_theta}
    out: Config = {legacy.get("rope_theta", "rope_theta"): spec.rope_theta}
    if spec.rotary_fraction != 1.0 and "rotary_fraction" in legacy:
        params["partial_rotary_factor"] = spec.rotary_fraction
        out[legacy["rotary_fraction"]] = spec.rotary_fraction
    return {**out, "rope_parameters": params}


def _write_openai_gpt(s: ModelSpec) -> Config:
    return {**_common(s, "openai-gpt", "OpenAIGPTLMHeadModel"), "n_layer": s.n_layer,
            "n_embd": s.d_model, "n_head": s.n_head, "n_positions": s.context_length,
            "afn": {"gelu_tanh": "gelu", "relu": "relu", "silu": "silu"}.get(s.activation, "?"),
            "layer_norm_epsilon": s.norm_eps}


def _write_gpt2(s: ModelSpec) -> Config:
    return {**_common(s, "gpt2", "GPT2LMHeadModel"), "n_layer": s.n_layer, "n_embd": s.d_model,
            "n_head": s.n_head, "n_inner": s.d_ff, "n_positions": s.context_length,
            "n_ctx": s.context_length, "activation_function": _act_to_hf(s),
            "layer_norm_epsilon": s.norm_eps, "scale_attn_weights": s.scale_attention}


def _write_gpt_neo(s: ModelSpec) -> Config:
    pattern = list(s.attention_pattern)
    out = {**_common(s, "gpt_neo", "GPTNeoForCausalLM"), "num_layers": s.n_layer,
           "hidden_size": s.d_model, "num_heads": s.n_head, "intermediate_size": s.d_ff,
           "max_position_embeddings": s.context_length, "activation_function": _act_to_hf(s),
           "layer_norm_epsilon": s.norm_eps,
           "attention_types": [[pattern, s.n_layer // len(pattern)]]
           if s.n_layer % len(pattern) == 0 else [[[k], 1] for k in s.layer_kinds],
           "window_size": s.local_window or 256}
    return out


def _write_gptj(s: ModelSpec) -> Config:
    return {**_common(s, "gptj", "GPTJForCausalLM"), "n_layer": s.n_layer, "n_embd": s.d_model,
            "n_head": s.n_head, "n_inner": s.d_ff, "n_positions": s.context_length,
            "rotary_dim": s.rotary_dim, "activation_function": _act_to_hf(s),
            "layer_norm_epsilon": s.norm_eps, **_rope_out(s, {})}


def _write_gpt_neox(s: ModelSpec) -> Config:
    return {**_common(s, "gpt_neox", "GPTNeoXForCausalLM"), "num_hidden_layers": s.n_layer,
            "hidden_size": s.d_model, "num_attention_heads": s.n_head,
            "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
            "hidden_act": _act_to_hf(s), "layer_norm_eps": s.norm_eps,
            "use_parallel_residual": s.block == "parallel_two_norms",
            "attention_bias": s.has_bias("qkv"),
            **_rope_out(s, {"rope_theta": "rotary_emb_base", "rotary_fraction": "rotary_pct"}),
            "rotary_pct": s.rotary_fraction}


def _write_opt(s: ModelSpec) -> Config:
    return {**_common(s, "opt", "OPTForCausalLM"), "num_hidden_layers": s.n_layer,
            "hidden_size": s.d_model, "num_attention_heads": s.n_head, "ffn_dim": s.d_ff,
            "max_position_embeddings": s.context_length, "activation_function": _act_to_hf(s),
            "do_layer_norm_before": s.norm_position == "pre",
            "_remove_final_layer_norm": s.norm_position == "pre" and not s.final_norm,
            "word_embed_proj_dim": s.embed_width, "enable_bias": s.bias,
            "layer_norm_elementwise_affine": True, "pad_token_id": 1, "bos_token_id": 2,
            "eos_token_id": 2}


def _write_bloom(s: ModelSpec) -> Config:
    return {**_common(s, "bloom", "BloomForCausalLM"), "n_layer": s.n_layer,
            "hidden_size": s.d_model, "n_head": s.n_head, "layer_norm_epsilon": s.norm_eps,
            "seq_length": s.context_length, "apply_residual_connection_post_layernorm": False}


def _write_llama(s: ModelSpec) -> Config:
    model_type = "mistral" if "local" in s.attention_pattern else "llama"
    arch = "MistralForCausalLM" if model_type == "mistral" else "LlamaForCausalLM"
    out = {**_common(s, model_type, arch), "num_hidden_layers": s.n_layer,
           "hidden_size": s.d_model, "num_attention_heads": s.n_head,
           "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim,
           "intermediate_size": s.d_ff, "max_position_embeddings": s.context_length,
           "hidden_act": "silu", "rms_norm_eps": s.norm_eps, **_rope_out(s, {})}
    if model_type == "mistral":
        out["sliding_window"] = s.local_window
    else:
        out.update(attention_bias=s.has_bias("qkv"), mlp_bias=s.has_bias("mlp"))
    return out


def _write_falcon(s: ModelSpec) -> Config:
    new = s.block == "parallel_two_norms" or s.kv_heads not in (1, s.n_head)
    out = {**_common(s, "falcon", "FalconForCausalLM"), "num_hidden_layers": s.n_layer,
           "hidden_size": s.d_model, "num_attention_heads": s.n_head,
           "ffn_hidden_size": s.d_ff, "max_position_embeddings": s.context_length,
           "activation": _act_to_hf(s), "layer_norm_epsilon": s.norm_eps, "bias": s.bias,
           "alibi": False, "new_decoder_architecture": new, **_rope_out(s, {})}
    if new:
        out.update(num_kv_heads=s.kv_heads, parallel_attn=True,
                   num_ln_in_parallel_attn=2 if s.block == "parallel_two_norms" else 1)
    else:
        out.update(multi_query=s.kv_heads == 1, parallel_attn=s.block == "parallel",
                   num_kv_heads=s.kv_heads)
    return out


WRITERS: dict[str, Callable[[ModelSpec], Config]] = {
    "openai-gpt": _write_openai_gpt, "gpt2": _write_gpt2, "gpt_neo": _write_gpt_neo,
    "gptj": _write_gptj, "gpt_neox": _write_gpt_neox, "opt": _write_opt, "bloom": _write_bloom,
    "llama": _write_llama, "falcon": _write_falcon,
}


def to_hf_config(spec: ModelSpec) -> Config:
    """The config.json of the transformers architecture that computes exactly this spec.

    Raises UnsupportedConfigError naming the nearest miss when none does (e.g. GPT-3's banded
    layers, or a d_head that the architecture cannot state).
    """
    target = architecture_key(spec)
    misses = []
    for model_type, write in WRITERS.items():
        try:
            config = write(spec)
            fields = spec_fields_from_hf_config(config)
            back = spec_from_mapping({"name": spec.name, "family": spec.family, **fields})
        except (UnsupportedConfigError, SpecError) as err:
            misses.append((model_type, str(err)))
            continue
        if architecture_key(back) == target:
            return config
        misses.append((model_type, architecture_difference(back, spec) or "differs"))
    detail = "; ".join(f"{m}: {why}" for m, why in misses[:3])
    raise UnsupportedConfigError(f"no transformers architecture computes {spec.name} exactly "
                                 f"({detail}, ...)")


def transformers_config(spec: ModelSpec) -> Any:
    """`to_hf_config` as transformers' own config object (imports transformers: for tests,
    benchmarks and verification, never on zoo's loading path)."""
    import transformers

    config = to_hf_config(spec)
    return transformers.CONFIG_MAPPING[config.pop("model_type")](**config)
