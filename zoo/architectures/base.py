"""What one architecture entry is, and the small vocabulary the entries are written in.

An entry is everything zoo knows about one Hugging Face `model_type`, as data where it can be:
how its config.json reads into spec fields and how a spec writes back, which checkpoint tensor
feeds which zoo tensor (templates with `{i}` for the layer, and a named transform), and how a
GGUF file of it is laid out. Pure data and plain Python: no torch, so counting a config.json
never loads it. The transforms the templates name are implemented in `zoo.checkpoints.transforms`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from zoo.fields import describe
from zoo.spec import ModelSpec

Config = dict[str, Any]


class UnsupportedConfigError(ValueError):
    """A config (or spec) that zoo cannot translate exactly; the message says which key."""


class Source(NamedTuple):
    """The checkpoint tensors (templates) one zoo tensor is made of, and the transform."""

    hf: tuple[str, ...]
    transform: str = "same"


Tensors = Mapping[str, Source]


@dataclass(frozen=True)
class GGUFLayout:
    """How llama.cpp stores this architecture: its `general.architecture`, its tensor names
    (template -> the Hugging Face name and a GGUF-side transform), and its metadata as the
    config.json the entry reads, and back."""

    arch: str
    tensors: Mapping[str, tuple[str, str]]
    config: Callable[[Mapping[str, Any], Collection[str]], Config]  # (fields, tensor names)
    # the other way: a spec's metadata as llama.cpp's converter writes it (`<arch>.*` keys),
    # what `config` reads back as the same architecture (zoo.checkpoints.gguf.to_gguf checks)
    fields: Callable[[ModelSpec], Config]

    def names(self, n_layer: int) -> dict[str, tuple[str, str]]:
        """Every tensor a model of `n_layer` layers may have: Hugging Face name -> (GGUF
        name, GGUF-side transform)."""
        return {hf.replace("{i}", str(i)): (template.replace("{i}", str(i)), transform)
                for template, (hf, transform) in self.tensors.items()
                for i in (range(n_layer) if "{i}" in template else [0])}


@dataclass(frozen=True)
class Architecture:
    """One Hugging Face model_type (see the module docstring)."""

    model_type: str
    hf_class: str  # the *ForCausalLM class, written into config.json's "architectures"
    read: Callable[[Mapping[str, Any]], Config]  # config.json -> spec fields
    write: Callable[[ModelSpec], Config]  # spec -> config.json keys (model_type etc. added)
    # zoo template -> Source (or a function of the spec giving them, where a layout switch
    # renames tensors); only the tensors a spec's model has are used
    tensors: Tensors | Callable[[ModelSpec], Tensors]
    prefix: str  # the base model's prefix in a *ForCausalLM state dict ("model." ...)
    aliases: tuple[str, ...] = ()  # other spellings of model_type in published configs
    renamed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # other tensor names
    gguf: GGUFLayout | None = None
    # prefixes of checkpoint tensors zoo does not use (`{n_layer}`: DeepSeek-V3's
    # multi-token-prediction layer after the last one; `{shared}`: each of Gemma 4's layers
    # that share keys and values, whose unused k/v projections checkpoints keep)
    ignore: tuple[str, ...] = ()
    # counted, not built: the closed form counts this class exactly, but zoo's decoder does not
    # compute what it computes (the nearest built model_type, said when it is refused)
    nearest: str | None = None

    @property
    def built(self) -> bool:
        return self.nearest is None

    def ignored(self, spec: ModelSpec) -> tuple[str, ...]:
        out = []
        for p in self.ignore:
            p = p.replace("{n_layer}", str(spec.n_layer))
            shared = [i for i, yes in enumerate(spec.layer_kv_shared) if yes]
            out += [p.replace("{shared}", str(i)) for i in shared] if "{shared}" in p else [p]
        return tuple(out)

    def templates(self, spec: ModelSpec) -> Tensors:
        return self.tensors(spec) if callable(self.tensors) else self.tensors


# --- tensor templates -------------------------------------------------------------------------

def refuse_write(spec: ModelSpec) -> Config:
    """The writer of an entry zoo counts but does not build: no spec is written as it."""
    raise UnsupportedConfigError(f"{spec.name}: zoo writes no config of a counted-only "
                                 f"architecture")


def same(zoo: str, hf: str) -> dict[str, Source]:
    """One tensor stored as zoo stores it."""
    return {zoo: Source((hf,))}


def linear(zoo: str, hf: str, transform: str = "same") -> dict[str, Source]:
    """A projection's weight and bias (the bias is used only where the spec has one). A
    transposed (Conv1D) weight has a bias stored as is."""
    bias = "same" if transform == "transpose" else transform
    return {f"{zoo}.weight": Source((f"{hf}.weight",), transform),
            f"{zoo}.bias": Source((f"{hf}.bias",), bias)}


def norm(zoo: str, hf: str) -> dict[str, Source]:
    """A norm's weight, and its bias where it has one (LayerNorm)."""
    return linear(zoo, hf)


def fused(zoo: str, parts: tuple[str, ...], transform: str) -> dict[str, Source]:
    """One zoo matrix made of several checkpoint matrices (q, k, v or gate, up)."""
    return {f"{zoo}.{kind}": Source(tuple(f"{p}.{kind}" for p in parts), transform)
            for kind in ("weight", "bias")}


# --- config.json vocabulary -------------------------------------------------------------------

# activation names: transformers' ACT2FN key <-> zoo
ACT_FROM_HF = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "gelu_fast": "gelu_tanh", "gelu": "gelu", "relu": "relu", "silu": "silu",
               "swish": "silu", "relu2": "relu2"}
ACT_TO_HF = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu",
             "relu2": "relu2"}


def get(config: Mapping[str, Any], *keys: str, default: Any = ...) -> Any:
    """The first of `keys` the config sets (not null); without a default, a missing key is an
    UnsupportedConfigError naming it."""
    for key in keys:
        if key in config and config[key] is not None:
            return config[key]
    if default is ...:
        raise UnsupportedConfigError(f"config.json has no {' / '.join(keys)}")
    return default


def activation(name: Any, key: str) -> str:
    if name not in ACT_FROM_HF:
        raise UnsupportedConfigError(f"{key} {name!r} is not supported; zoo knows "
                                     f"{', '.join(sorted(ACT_FROM_HF))}")
    return ACT_FROM_HF[name]


def activation_to_hf(spec: ModelSpec) -> str:
    if spec.activation not in ACT_TO_HF:
        raise UnsupportedConfigError(f"activation {spec.activation} has no equivalent here")
    return ACT_TO_HF[spec.activation]


# RopeScaling field <-> its key in config.json's rope_parameters / rope_scaling
ROPE_SCALING_KEYS = (
    ("factor", "factor"), ("original_context", "original_max_position_embeddings"),
    ("low_freq_factor", "low_freq_factor"), ("high_freq_factor", "high_freq_factor"),
    ("beta_fast", "beta_fast"), ("beta_slow", "beta_slow"),
    ("attention_factor", "attention_factor"), ("mscale", "mscale"),
    ("mscale_all_dim", "mscale_all_dim"), ("truncate", "truncate"),
    ("short_factor", "short_factor"), ("long_factor", "long_factor"))
ROPE_SCALING_TYPES = ("linear", "llama3", "yarn")
# scalings with no parameters that zoo's decoder does not compute: counted, not built
ROPE_COUNTED_ONLY = ("dynamic", "longrope")


def counted_only(fields: Config, reason: str) -> Config:
    """Mark fields read from a config as counted exactly but not built, saying why."""
    fields["counted_only"] = "; ".join(filter(None, (fields.get("counted_only"), reason)))
    return fields


def text_decoder_of(fields: Config, checkpoint_class: str, rest: str,
                    rest_params: int | None = None) -> Config:
    """Mark fields read from a wrapper config (a text decoder beside towers) as that part only,
    saying what the rest of the checkpoint is, and how many parameters it has where a closed
    form counts them (the whole checkpoint is then the decoder's total plus these)."""
    article = "an" if checkpoint_class[:1] in "AEIOU" else "a"
    fields["part_of"] = (f"the text decoder of {article} {checkpoint_class} checkpoint, without "
                         f"its {rest}")
    if rest_params is not None:
        fields["rest_params"] = rest_params
    return fields


def with_defaults(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> Config:
    """A config.json with its class's defaults where it leaves a key out (a key set to null
    stays null: the class derives it, as a reader's own fallback does)."""
    return {**defaults, **config}


def defaults_under(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> Config:
    """A config.json over its class's defaults, a key set to null taking the default too (the
    classes whose null means "the default", or whose readers treat it so)."""
    return {**defaults, **{k: v for k, v in config.items() if v is not None}}


def read_rope(config: Mapping[str, Any], default_fraction: float = 1.0, *,
              params: Mapping[str, Any] | None = None, scaling: bool = True,
              longrope: bool = False) -> Config:
    """rope_theta, the rotated fraction and any frequency scaling, from v5's `rope_parameters`
    (or the given `params`, e.g. one layer type's) or the legacy keys; `scaling=False` for an
    architecture whose transformers class takes none, `longrope=True` where zoo's tiny model
    of the class holds longrope to transformers (Phi-3)."""
    params = params if params is not None else (config.get("rope_parameters") or {})
    legacy = config.get("rope_scaling") or {}
    source = params if "rope_type" in params else legacy
    kind = source.get("rope_type", source.get("type", "default"))
    theta = params.get("rope_theta", get(config, "rope_theta", "rotary_emb_base",
                                         default=10000.0))
    fraction = params.get("partial_rotary_factor",
                          get(config, "partial_rotary_factor", "rotary_pct",
                              default=default_fraction))
    out: Config = {"rope_theta": float(theta), "rotary_fraction": float(fraction)}
    if kind in ("default", None):
        return out
    built = longrope and kind == "longrope"
    if scaling and kind in ROPE_COUNTED_ONLY and not built:
        return counted_only(out, f"rope scaling {kind!r} is not built")
    types = (*ROPE_SCALING_TYPES, "longrope") if longrope else ROPE_SCALING_TYPES
    if not scaling or kind not in types:
        supported = ", ".join(types) if scaling else "none (only plain RoPE)"
        raise UnsupportedConfigError(f"rope scaling {kind!r} is not supported here; zoo reads "
                                     f"{supported}")
    rope: Config = {"type": kind}
    for ours, theirs in ROPE_SCALING_KEYS:
        if source.get(theirs) is not None:
            rope[ours] = source[theirs]
    if kind == "yarn" and "original_context" not in rope:
        rope["original_context"] = get(config, "max_position_embeddings")
    if kind == "longrope":  # transformers: the top-level original context, and the ratio
        if "original_context" not in rope:  # (a top-level key only where the rope has none)
            rope["original_context"] = get(config, "original_max_position_embeddings")
        rope.setdefault("factor", get(config, "max_position_embeddings")
                        / rope["original_context"])
    out["rope_scaling"] = rope
    return out


def rope_parameters(spec: ModelSpec, theta: float | None = None, scaled: bool = True) -> Config:
    """v5's rope_parameters for the spec (or for a layer type with its own `theta`)."""
    params: Config = {"rope_type": "default",
                      "rope_theta": spec.rope_theta if theta is None else theta}
    if spec.rotary_fraction != 1.0:
        params["partial_rotary_factor"] = spec.rotary_fraction
    if scaled and spec.rope_scaling is not None:
        params["rope_type"] = spec.rope_scaling.type
        params.update({theirs: list(value) if isinstance(value, tuple) else value
                       for ours, theirs in ROPE_SCALING_KEYS
                       if (value := getattr(spec.rope_scaling, ours)) is not None})
    return params


def write_rope(spec: ModelSpec, legacy: Mapping[str, str]) -> Config:
    """Rotary settings in both spellings: v5's rope_parameters and the legacy top-level keys
    (`legacy` renames them where the architecture used other names)."""
    params = rope_parameters(spec)
    out: Config = {legacy.get("rope_theta", "rope_theta"): spec.rope_theta}
    if spec.rotary_fraction != 1.0 and "rotary_fraction" in legacy:
        out[legacy["rotary_fraction"]] = spec.rotary_fraction
    if spec.rope_scaling is not None:
        out["rope_scaling"] = {k: v for k, v in params.items() if k != "rope_theta"}
    return {**out, "rope_parameters": params}


LAYER_TYPES = {"full_attention": "global", "sliding_attention": "local"}


def read_layer_types(config: Mapping[str, Any], window: int | None) -> Config:
    """v5's per-layer `layer_types` as an attention pattern (and the window local layers use);
    nothing when every layer is full attention."""
    types = config.get("layer_types")
    if not types:
        return {}
    unknown = sorted({t for t in types if t not in LAYER_TYPES})
    if unknown:
        raise UnsupportedConfigError(f"layer_types {', '.join(unknown)} are not supported; zoo "
                                     f"reads {', '.join(LAYER_TYPES)}")
    kinds = [LAYER_TYPES[t] for t in types]
    if "local" not in kinds:
        return {}
    if window is None:
        raise UnsupportedConfigError("layer_types has sliding layers but sliding_window is "
                                     "not set")
    return {"attention_pattern": shortest_period(kinds), "local_window": window}


def write_layer_types(spec: ModelSpec) -> list[str]:
    to_hf = {ours: theirs for theirs, ours in LAYER_TYPES.items()}
    unknown = sorted(set(spec.layer_kinds) - set(to_hf))
    if unknown:
        raise UnsupportedConfigError(f"{', '.join(unknown)} attention has no layer type here")
    return [to_hf[kind] for kind in spec.layer_kinds]


# the JSON type every config.json key the readers use must have (null is always allowed: it
# means the class default): checked before any reader runs, so that a string where an object
# belongs is one error naming the key, not an AttributeError deep in a reader
_OBJECTS = ("rope_scaling", "rope_parameters", "text_config", "vision_config", "audio_config",
            "quantization_config", "attn_config", "ffn_config")
_INTEGERS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "vocab_size", "max_position_embeddings", "head_dim", "n_embd",
    "n_layer", "n_head", "n_inner", "n_positions", "n_ctx", "num_experts", "num_local_experts",
    "num_experts_per_tok", "n_routed_experts", "n_shared_experts", "moe_intermediate_size",
    "shared_expert_intermediate_size", "first_k_dense_replace",
    "decoder_sparse_step", "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim",
    "qk_rope_head_dim", "v_head_dim", "n_group", "topk_group", "sliding_window",
    "max_window_layers", "index_head_dim", "index_n_heads",
    "index_topk", "original_max_position_embeddings")
_NUMBERS = (
    "rope_theta", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps",
    "partial_rotary_factor", "rotary_pct", "rotary_emb_base", "rope_local_base_freq",
    "routed_scaling_factor", "attn_logit_softcapping", "final_logit_softcapping",
    "swiglu_limit", "query_pre_attn_scalar", "embedding_multiplier", "residual_multiplier",
    "attention_multiplier", "logits_scaling", "logit_scale")
_BOOLEANS = ("tie_word_embeddings", "attention_bias", "mlp_bias", "use_qk_norm",
             "norm_topk_prob", "use_sliding_window", "scale_attn_weights",
             "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn")
_STRINGS = ("model_type", "hidden_act", "hidden_activation", "activation_function",
            "topk_method", "scoring_func")
_ARRAYS = ("architectures", "layer_types", "mlp_only_layers", "mlp_layer_types")
# DeepSeek's every-nth-layer integer, or MiMo-V2-Flash's and dots3's list of 0/1 per layer;
# one MLP width, or Gemma 3n's one per layer
_INTEGERS_OR_ARRAYS = ("moe_layer_freq", "intermediate_size")
# Gemma 3's switch, or Gemma 4's name of what attends both ways ("vision", "all")
_BOOLEANS_OR_STRINGS = ("use_bidirectional_attention",)
# a period (Gemma 3, Command R7B), or EXAONE 4's letters ("LLLG")
_INTEGERS_OR_STRINGS = ("sliding_window_pattern",)
CONFIG_TYPES: dict[str, str] = {
    **dict.fromkeys(_OBJECTS, "an object"), **dict.fromkeys(_INTEGERS, "an integer"),
    **dict.fromkeys(_NUMBERS, "a number"), **dict.fromkeys(_BOOLEANS, "true or false"),
    **dict.fromkeys(_STRINGS, "a string"), **dict.fromkeys(_ARRAYS, "an array"),
    **dict.fromkeys(_INTEGERS_OR_ARRAYS, "an integer or an array"),
    **dict.fromkeys(_BOOLEANS_OR_STRINGS, "true, false or a string"),
    **dict.fromkeys(_INTEGERS_OR_STRINGS, "an integer or a string")}
_JSON_CHECKS: dict[str, Callable[[Any], bool]] = {
    "an object": lambda v: isinstance(v, dict),
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "true or false": lambda v: isinstance(v, bool),
    "a string": lambda v: isinstance(v, str),
    "an array": lambda v: isinstance(v, list),
    "an integer or an array": lambda v: isinstance(v, list)
    or (isinstance(v, int) and not isinstance(v, bool)),
    "true, false or a string": lambda v: isinstance(v, bool | str),
    "an integer or a string": lambda v: isinstance(v, str)
    or (isinstance(v, int) and not isinstance(v, bool)),
}


# ... and of the keys of rope_scaling / rope_parameters (or of their per-layer-type parts)
ROPE_TYPES: dict[str, str] = {
    **dict.fromkeys(("rope_type", "type"), "a string"),
    **dict.fromkeys(("factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                     "low_freq_factor", "high_freq_factor", "attention_factor", "rope_theta",
                     "partial_rotary_factor"), "a number"),
    **dict.fromkeys(("original_max_position_embeddings",), "an integer"),
    **dict.fromkeys(("short_factor", "long_factor"), "an array")}


def check_config_types(config: Mapping[str, Any], where: str = "",
                       types: Mapping[str, str] = CONFIG_TYPES) -> None:
    """Every key of `types` in a config.json (and in its nested text_config and rope
    objects) has its JSON type, or is null; UnsupportedConfigError naming the first that does
    not."""
    for key, expected in types.items():
        value = config.get(key)
        if value is not None and not _JSON_CHECKS[expected](value):
            raise UnsupportedConfigError(f"field {where}{key} is {describe(value)}; expected "
                                         f"{expected} (or null)")
    for key in ("rope_scaling", "rope_parameters"):
        rope = config.get(key) if types is CONFIG_TYPES else None
        if isinstance(rope, dict):
            check_config_types(rope, f"{where}{key}.", ROPE_TYPES)
            for kind, part in rope.items():  # per layer type (transformers 5's Gemma 3)
                if isinstance(part, dict):
                    check_config_types(part, f"{where}{key}.{kind}.", ROPE_TYPES)
    if types is CONFIG_TYPES and isinstance(config.get("text_config"), dict):
        check_config_types(config["text_config"], f"{where}text_config.")


def gguf_value(fields: Mapping[str, Any], key: str, default: Any = ..., *,
               count: bool = False) -> Any:
    """A GGUF metadata value; a missing one without a default is an UnsupportedConfigError, and
    with `count` anything but a positive integer is (a head count of 0 would divide by zero).
    GGUF stores eps and theta as float32 (9.9999997e-06): floats come back as written."""
    value = fields.get(key)
    if value is None:
        if default is ...:
            raise UnsupportedConfigError(f"GGUF metadata lacks {key}")
        return default
    if count and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UnsupportedConfigError(f"GGUF metadata {key} is {describe(value)}; expected a "
                                     f"positive integer")
    return float(f"{value:.7g}") if isinstance(value, float) else value


def local_rotary(out: Config, local: Mapping[str, Any]) -> None:
    """The sliding layers' own rope fields (`read_rope`'s) beside the full layers' in `out`:
    their base as local_rope_theta where it differs, or where the full layers are scaled
    (zoo's local layers never are); a scaled rope of their own is counted, not built."""
    if "rope_scaling" in local:
        counted_only(out, "rope_parameters.sliding_attention scales its rotary: zoo's local "
                          "layers are never scaled")
    if local["rope_theta"] != out["rope_theta"] or "rope_scaling" in out:
        out["local_rope_theta"] = local["rope_theta"]


def shortest_period(kinds: list[str]) -> list[str]:
    """The shortest pattern that, cycled, gives this per-layer list."""
    for period in range(1, len(kinds)):
        if len(kinds) % period == 0 and kinds == kinds[:period] * (len(kinds) // period):
            return kinds[:period]
    return kinds
