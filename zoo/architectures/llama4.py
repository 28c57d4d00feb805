"""Meta's Llama 4 (llama4_text, and the text decoder of the image-text llama4): a mixture of
experts with one shared expert (Scout: on every layer; Maverick: every other layer, the rest
dense MLPs of intermediate_size_mlp), one expert per token chosen by a sigmoid score that scales
the expert's input; three layers in four rotary with chunked attention (attention_chunk_size)
and the weight-free QK-norm, the fourth without positions (NoPE), attending to everything, its
queries scaled by the temperature tuning. Rotary pairs adjacent dims (Meta's complex form).

Checkpoints store the experts fused and input-major: gate_up_proj (experts, d_model,
[gate | up]) and down_proj (experts, hidden, d_model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
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
)
from zoo.architectures.llama import read_llama_like, write_llama_like
from zoo.spec import ModelSpec

# Llama4TextConfig's class defaults (transformers 5.25) for the keys read here
TEXT_DEFAULTS: Config = {
    "vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192,
    "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
    "num_key_value_heads": 8, "head_dim": 128, "hidden_act": "silu",
    "max_position_embeddings": 4096 * 32, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "num_experts_per_tok": 1, "num_local_experts": 16, "interleave_moe_layer_step": 1,
    "use_qk_norm": True, "no_rope_layer_interval": 4, "attention_chunk_size": 8192,
    "attn_temperature_tuning": True, "floor_scale": 8192, "attn_scale": 0.1,
    "attention_bias": False, "rope_theta": 500000.0,
}
LAYER_TYPES = {"full_attention": "global", "chunked_attention": "chunked"}


def _defaults(c: Mapping[str, Any]) -> Config:
    """The config with the class defaults under what it sets (a null is a default too, except
    for attention_chunk_size, where null means no chunked layers)."""
    out = dict(TEXT_DEFAULTS)
    out.update({k: v for k, v in c.items() if v is not None or k == "attention_chunk_size"})
    return out


def _moe_layers(c: Mapping[str, Any], layers: int) -> list[int]:
    if c.get("moe_layers") is not None:
        return list(c["moe_layers"])
    step = c["interleave_moe_layer_step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise UnsupportedConfigError(f"interleave_moe_layer_step {step!r}: expected an integer "
                                     f">= 1")
    return list(range(step - 1, layers, step))


def _rotary(c: Mapping[str, Any], layers: int) -> list[bool]:
    """Per layer, rotary on (1) or off (0): no_rope_layers, or every no_rope_layer_interval-th
    layer without (an empty list means the default too, as in transformers)."""
    given = c.get("no_rope_layers")
    if given:
        if len(given) < layers:
            raise UnsupportedConfigError(f"no_rope_layers has {len(given)} entries for "
                                         f"{layers} layers")
        return [bool(r) for r in given[:layers]]
    interval = c["no_rope_layer_interval"]
    return [(i + 1) % interval != 0 for i in range(layers)]


def read_llama4_text(config: Mapping[str, Any]) -> Config:
    c = _defaults(config)
    layers = get(c, "num_hidden_layers")
    rotary = _rotary(c, layers)
    chunk = c.get("attention_chunk_size")
    types = c.get("layer_types") or ["chunked_attention" if r and chunk is not None
                                     else "full_attention" for r in rotary]
    unknown = sorted({t for t in types if t not in LAYER_TYPES})
    if unknown:
        raise UnsupportedConfigError(f"layer_types {', '.join(unknown)} are not supported; zoo "
                                     f"reads {', '.join(LAYER_TYPES)}")
    kinds = [LAYER_TYPES[t] for t in types[:layers]]
    if "chunked" in kinds and chunk is None:
        raise UnsupportedConfigError("layer_types has chunked layers but attention_chunk_size "
                                     "is null")
    out = read_llama_like(c, d_ff=get(c, "intermediate_size_mlp"), mlp_bias=False,
                          norm_eps=get(c, "rms_norm_eps"), rotary_style="interleaved",
                          rotary_pattern=shortest_period(rotary),
                          qk_norm="l2" if c["use_qk_norm"] else "none")
    if "chunked" in kinds:
        out.update(attention_pattern=shortest_period(kinds), attention_chunk=chunk)
    if c["attn_temperature_tuning"]:
        floor = c["floor_scale"]
        if float(floor) != int(floor) or floor < 1:
            raise UnsupportedConfigError(f"floor_scale {floor!r}: zoo takes a whole number of "
                                         f"tokens")
        out.update(temperature_floor=int(floor), temperature_scale=float(c["attn_scale"]))
    moe = set(_moe_layers(c, layers))
    if moe & set(range(layers)):
        out.update(n_experts=get(c, "num_local_experts"),
                   experts_per_token=get(c, "num_experts_per_tok"),
                   d_ff_expert=get(c, "intermediate_size"), n_shared_experts=1,
                   mlp_pattern=shortest_period(["moe" if i in moe else "dense"
                                                for i in range(layers)]),
                   router_scoring="sigmoid", router_normalize=False, router_scales_input=True)
    return out


def read_llama4(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Llama 4 image-text model (the vision tower and the projector are
    not in the spec: see `vision_params`)."""
    return text_decoder_of(read_llama4_text(c.get("text_config") or {}),
                           "Llama4ForConditionalGeneration", "vision tower and projector",
                           vision_params(c))


def write_llama4_text(s: ModelSpec) -> Config:
    if s.has_local:
        raise UnsupportedConfigError("Llama 4 has chunked attention, no sliding windows")
    if s.rotary_style != "interleaved":
        raise UnsupportedConfigError("Llama 4's rotary pairs adjacent dims")
    out: Config = {
        **write_llama_like(s),
        "intermediate_size_mlp": s.d_ff, "intermediate_size": s.expert_width,
        "attention_bias": s.has_bias("qkv"),
        "no_rope_layers": [int(r) for r in s.layer_rotary],
        "attention_chunk_size": s.attention_chunk,
        "layer_types": ["chunked_attention" if k == "chunked" else "full_attention"
                        for k in s.layer_kinds],
        "use_qk_norm": s.qk_norm == "l2", "attn_temperature_tuning": s.temperature_tuning,
        "floor_scale": s.temperature_floor or TEXT_DEFAULTS["floor_scale"],
        "attn_scale": s.temperature_scale or TEXT_DEFAULTS["attn_scale"],
        "moe_layers": [i for i, moe in enumerate(s.layer_moe) if moe],
    }
    if s.moe:
        out.update(num_local_experts=s.n_experts, num_experts_per_tok=s.experts_per_token)
    return out


def write_none(s: ModelSpec) -> Config:
    raise UnsupportedConfigError("zoo writes Llama 4's text decoder as llama4_text")


def vision_params(config: Mapping[str, Any]) -> int:
    """Parameters of a llama4 config's vision tower (Llama4VisionModel) and image projector
    (multi_modal_projector), which the spec of its text decoder leaves out: patch embedding,
    class and position embeddings, pre/post LayerNorms, the ViT layers (biased attention and
    GELU MLP, two LayerNorms), the pixel-shuffle adapter's two bias-free matrices, and the
    bias-free projection to the text width."""
    v = {"hidden_size": 768, "num_hidden_layers": 34, "num_channels": 3,
         "intermediate_size": 5632, "vision_output_dim": 7680, "image_size": 448,
         "patch_size": 14, "projector_input_dim": 4096, "projector_output_dim": 4096,
         **{k: val for k, val in (config.get("vision_config") or {}).items() if val is not None}}
    text = _defaults(config.get("text_config") or {})
    h, inner, layers = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    image, patch = v["image_size"], v["patch_size"]
    if not isinstance(image, int) or not isinstance(patch, int):
        raise UnsupportedConfigError("vision_config image_size and patch_size: zoo counts "
                                     "square images (one integer each)")
    embeddings = v["num_channels"] * patch * patch * h + h + ((image // patch) ** 2 + 1) * h
    layer = 4 * (h * h + h) + (h * inner + inner) + (inner * h + h) + 2 * 2 * h
    adapter = inner * v["projector_input_dim"] + v["projector_output_dim"] ** 2
    projector = v["vision_output_dim"] * text["hidden_size"]
    return embeddings + 2 * 2 * h + layers * layer + adapter + projector


LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
FF = f"{LAYER}.feed_forward"
TENSORS: dict[str, Source] = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj", f"{ATTN}.v_proj"),
            "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    # the dense layers
    **fused("blocks.{i}.mlp.fc_in", (f"{FF}.gate_proj", f"{FF}.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{FF}.down_proj"),
    # the MoE layers
    **same("blocks.{i}.mlp.router.weight", f"{FF}.router.weight"),
    "blocks.{i}.mlp.experts.fc_in": Source((f"{FF}.experts.gate_up_proj",),
                                           "experts_transpose"),
    "blocks.{i}.mlp.experts.fc_out": Source((f"{FF}.experts.down_proj",), "experts_transpose"),
    **fused("blocks.{i}.mlp.shared.fc_in", (f"{FF}.shared_expert.gate_proj",
                                            f"{FF}.shared_expert.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.shared.fc_out", f"{FF}.shared_expert.down_proj"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 147
ENTRIES = (
    Architecture(model_type="llama4_text", hf_class="Llama4ForCausalLM", read=read_llama4_text,
                 write=write_llama4_text, tensors=TENSORS, prefix="model."),
    Architecture(model_type="llama4", hf_class="Llama4ForConditionalGeneration",
                 read=read_llama4, write=write_none, prefix="language_model.model.",
                 tensors={k: v._replace(hf=tuple(f"language_model.{h}" for h in v.hf))
                          for k, v in TENSORS.items()},
                 ignore=("vision_model.", "multi_modal_projector.")),
)
