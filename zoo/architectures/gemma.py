"""Google's Gemma (gemma), Gemma 2 (gemma2) and Gemma 3 (gemma3_text; gemma3's multimodal
config is read for its text decoder): RMSNorm scaling by (1 + w), embeddings scaled by
sqrt(d_model), GeGLU. Gemma 1 is LLaMA's pre-norm block with these; Gemma 2 and 3 add norms
after each sublayer, scores scaled by query_pre_attn_scalar, local and global layers; Gemma 2
soft-caps scores and logits, Gemma 3 normalises q and k and gives its local layers their own
rotary base. VaultGemma (vaultgemma) is Gemma 2 with the norms before each sublayer only (no
post-attention or post-feedforward norm).

Configs omit what their class defaults, and published Gemma 3 text configs lean on that (no
vocab_size, no max_position_embeddings): the readers apply the same defaults as transformers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    GGUFLayout,
    UnsupportedConfigError,
    get,
    gguf_value,
    norm,
    read_layer_types,
    read_rope,
    rope_parameters,
    same,
    text_decoder_of,
    write_layer_types,
    write_rope,
)
from zoo.architectures.llama import ATTN, LAYER, QK_NORMS
from zoo.architectures.llama import TENSORS as LLAMA_TENSORS
from zoo.architectures.towers import SIGLIP_VISION, siglip_vision
from zoo.spec import ModelSpec

TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.post_attn_norm", f"{LAYER}.post_attention_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.pre_feedforward_layernorm"),
    **norm("blocks.{i}.post_mlp_norm", f"{LAYER}.post_feedforward_layernorm"),
    **{k: v for k, v in LLAMA_TENSORS.items() if ".attn." in k or ".mlp." in k},
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}
# transformers' class defaults for what published configs leave out
GEMMA1 = {"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576,
          "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 16,
          "head_dim": 256, "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 8192,
          "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "attention_bias": False}
GEMMA2 = {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
          "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
          "head_dim": 256, "max_position_embeddings": 8192, "rms_norm_eps": 1e-6,
          "query_pre_attn_scalar": 256, "sliding_window": 4096,
          "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
          "tie_word_embeddings": True}
GEMMA3 = {**GEMMA2, "vocab_size": 262208, "max_position_embeddings": 131072,
          "final_logit_softcapping": None, "attn_logit_softcapping": None}


def read_gemma(c: Mapping[str, Any]) -> Config:
    """Gemma 1: LLaMA's block with Gemma's (1 + w) RMSNorm, GeGLU and scaled embeddings.
    Its published configs say `hidden_act: "gelu"`, which transformers takes as the tanh form
    (the legacy value of the official releases)."""
    c = {**GEMMA1, **c}
    act = c["hidden_act"]
    if act not in ("gelu", "gelu_pytorch_tanh", "gelu_new"):
        raise UnsupportedConfigError(f"hidden_act {act!r}: zoo's Gemma MLP is GeGLU with tanh "
                                     f"GELU")
    if c.get("use_bidirectional_attention"):
        raise UnsupportedConfigError("use_bidirectional_attention: zoo builds causal decoders")
    rope = read_rope(c)
    if rope["rotary_fraction"] != 1.0:
        raise UnsupportedConfigError("partial_rotary_factor: Gemma rotates whole heads")
    bias = bool(c["attention_bias"])
    return dict(n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"),
                n_head=get(c, "num_attention_heads"), n_kv_head=get(c, "num_key_value_heads"),
                d_head=get(c, "head_dim"), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary", **rope,
                norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), norm_unit_offset=True,
                scale_embeddings=True, activation="geglu", bias=False, qkv_bias=bias,
                attn_out_bias=bias, tie_embeddings=c["tie_word_embeddings"])


def write_gemma(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": "gelu_pytorch_tanh",
            "rms_norm_eps": s.norm_eps, "attention_bias": s.has_bias("qkv"),
            **write_rope(s, {})}


def _read(c: Mapping[str, Any], defaults: Mapping[str, Any], period: int) -> Config:
    c = {**defaults, **c}
    act = c.get("hidden_activation") or c.get("hidden_act") or "gelu_pytorch_tanh"
    if act not in ("gelu_pytorch_tanh", "gelu_new", "gelu_fast"):
        raise UnsupportedConfigError(f"hidden_activation {act!r}: zoo's Gemma MLP is GeGLU "
                                     f"with tanh GELU")
    bias = bool(c.get("attention_bias", False))
    layers = get(c, "num_hidden_layers")
    if not c.get("layer_types"):
        c["layer_types"] = ["sliding_attention" if (i + 1) % period else "full_attention"
                            for i in range(layers)]
    return dict(n_layer=layers, d_model=get(c, "hidden_size"),
                n_head=get(c, "num_attention_heads"), n_kv_head=get(c, "num_key_value_heads"),
                d_head=get(c, "head_dim"), d_ff=get(c, "intermediate_size"),
                vocab_size=get(c, "vocab_size"),
                context_length=get(c, "max_position_embeddings"), position="rotary",
                norm="rmsnorm", norm_eps=get(c, "rms_norm_eps"), norm_position="sandwich",
                norm_unit_offset=True, scale_embeddings=True, activation="geglu", bias=False,
                qkv_bias=bias, attn_out_bias=bias,
                query_pre_attn_scalar=float(get(c, "query_pre_attn_scalar")),
                attn_softcap=c.get("attn_logit_softcapping"),
                final_softcap=c.get("final_logit_softcapping"),
                tie_embeddings=c.get("tie_word_embeddings"),
                **read_layer_types(c, c.get("sliding_window")))


def _write(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length,
            "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": s.norm_eps,
            "attention_bias": s.has_bias("qkv"),
            "query_pre_attn_scalar": _integral(s.query_pre_attn_scalar),
            "attn_logit_softcapping": s.attn_softcap,
            "final_logit_softcapping": s.final_softcap,
            "sliding_window": s.local_window, "layer_types": write_layer_types(s)}


def _integral(value: float | None) -> float | int | None:
    """transformers types query_pre_attn_scalar as an int."""
    return int(value) if value is not None and float(value).is_integer() else value


def read_gemma2(c: Mapping[str, Any]) -> Config:
    return {**_read(c, GEMMA2, period=2), **read_rope(c)}


def write_gemma2(s: ModelSpec) -> Config:
    if s.local_rope_theta is not None or s.qk_norm != "none":
        raise UnsupportedConfigError("Gemma 2 has no QK-norm and one rotary base")
    return {**_write(s), "rope_theta": s.rope_theta, "rope_parameters": rope_parameters(s)}


def read_vaultgemma(c: Mapping[str, Any]) -> Config:
    """Gemma 2's reading (VaultGemmaConfig's defaults are Gemma2Config's) with pre-norms only;
    use_bidirectional_attention is not read by its class (always causal)."""
    c = {k: v for k, v in c.items() if k != "use_bidirectional_attention"}
    return {**read_gemma2(c), "norm_position": "pre"}


def write_vaultgemma(s: ModelSpec) -> Config:
    if s.norm_position != "pre":
        raise UnsupportedConfigError("VaultGemma normalises each sublayer's input only")
    return write_gemma2(s)


def read_gemma3(c: Mapping[str, Any]) -> Config:
    """Gemma 3's rotary per layer type: global layers take rope_theta (1e6) and any scaling,
    local ones their own base (rope_local_base_freq, 10,000), unscaled."""
    params = c.get("rope_parameters") or {}
    full = params.get("full_attention") or {}
    sliding = params.get("sliding_attention") or {}
    legacy = {"rope_theta": c.get("rope_theta", 1e6), "rope_scaling": c.get("rope_scaling")}
    rope = read_rope(legacy, params=full if full else None)
    local = read_rope({"rope_theta": c.get("rope_local_base_freq", 1e4)},
                      params=sliding if sliding else None)
    if "rope_scaling" in local:
        raise UnsupportedConfigError("Gemma 3 with scaled rotary on its local layers is not "
                                     "supported")
    out = {**_read(c, GEMMA3, period=c.get("sliding_window_pattern",
                                           c.get("_sliding_window_pattern", 6))),
           **rope, "qk_norm": "head"}
    if "local" in out.get("attention_pattern", ()):
        out["local_rope_theta"] = local["rope_theta"]
    return out


def write_gemma3(s: ModelSpec) -> Config:
    if s.attn_softcap is not None or s.qk_norm != "head":
        raise UnsupportedConfigError("Gemma 3 has QK-norm and no score soft-cap")
    local = s.local_rope_theta if s.local_rope_theta is not None else s.rope_theta
    if s.local_rope_theta is None and s.has_local and s.rope_scaling is not None:
        raise UnsupportedConfigError("Gemma 3's local layers are never scaled")
    return {**_write(s), "rope_parameters": {
        "full_attention": rope_parameters(s),
        "sliding_attention": rope_parameters(s, theta=local, scaled=False)}}


def read_gemma3_multimodal(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Gemma 3 image-text model, with the parameters of the rest: the
    SigLIP vision tower, and the projector (a bias-free matrix from the tower's width to the
    text width, after a Gemma RMSNorm of the tower's width)."""
    text = read_gemma3(c.get("text_config") or {})
    vision = c.get("vision_config") or {}
    width = vision.get("hidden_size") or SIGLIP_VISION["hidden_size"]
    projector = width * text["d_model"] + width
    return text_decoder_of(text, "Gemma3ForConditionalGeneration",
                           "SigLIP vision tower and multimodal projector",
                           siglip_vision(vision) + projector)


def write_none(s: ModelSpec) -> Config:
    raise UnsupportedConfigError("zoo writes Gemma 3's text decoder as gemma3_text")


def read_gguf(fields: Mapping[str, Any], tensor_names: Collection[str]) -> Config:
    """llama.cpp's `gemma3` metadata as the gemma3_text config it was converted from. What the
    file leaves out the architecture implies: every sixth layer global, local layers at rotary
    base 10,000, and the score scale llama.cpp uses (the head width; d_model / n_head for the
    62-layer 27B)."""
    def value(key: str, default: Any = ...) -> Any:
        return gguf_value(fields, f"gemma3.{key}", default)

    d, heads, layers = (value("embedding_length"), value("attention.head_count"),
                        value("block_count"))
    head_dim = value("attention.key_length", None) or d // heads
    config: Config = {
        "model_type": "gemma3_text", "num_hidden_layers": layers, "hidden_size": d,
        "intermediate_size": value("feed_forward_length"), "num_attention_heads": heads,
        "num_key_value_heads": value("attention.head_count_kv", None) or heads,
        "head_dim": head_dim, "max_position_embeddings": value("context_length"),
        "rms_norm_eps": value("attention.layer_norm_rms_epsilon"),
        "rope_theta": value("rope.freq_base", 1e6), "rope_local_base_freq": 10000.0,
        "sliding_window": value("attention.sliding_window"), "sliding_window_pattern": 6,
        "query_pre_attn_scalar": d // heads if layers == 62 else head_dim,
        "vocab_size": len(fields.get("tokenizer.ggml.tokens") or []) or value("vocab_size"),
        "tie_word_embeddings": "output.weight" not in tensor_names}
    if value("rope.scaling.type", None) not in (None, "none"):
        config["rope_scaling"] = {"rope_type": value("rope.scaling.type"),
                                  "factor": value("rope.scaling.factor")}
    return config


def write_gguf(s: ModelSpec) -> Config:
    """The `gemma3` metadata of a Gemma 3 spec, as llama.cpp's converter writes it
    (`read_gguf`'s keys). What the format leaves implied (every sixth layer global, local
    rotary base 10,000, the score scale) is checked when the fields are read back."""
    out: Config = {
        "gemma3.context_length": s.context_length, "gemma3.embedding_length": s.d_model,
        "gemma3.block_count": s.n_layer, "gemma3.feed_forward_length": s.d_ff,
        "gemma3.attention.head_count": s.n_head, "gemma3.attention.head_count_kv": s.kv_heads,
        "gemma3.attention.key_length": s.head_dim, "gemma3.attention.value_length": s.head_dim,
        "gemma3.attention.layer_norm_rms_epsilon": float(s.norm_eps),
        "gemma3.rope.freq_base": float(s.rope_theta),
        "gemma3.attention.sliding_window": s.local_window}
    if s.rope_scaling is not None:
        out["gemma3.rope.scaling.type"] = s.rope_scaling.type
        out["gemma3.rope.scaling.factor"] = float(s.rope_scaling.factor)
    return out


# llama.cpp stores Gemma's norm weights with 1 added, for a plain RMSNorm: taken off again
GGUF = GGUFLayout(arch="gemma3", config=read_gguf, fields=write_gguf, tensors={
    "token_embd.weight": ("model.embed_tokens.weight", "same"),
    "output_norm.weight": ("model.norm.weight", "unit_offset"),
    "output.weight": ("lm_head.weight", "same"),
    "blk.{i}.attn_norm.weight": (f"{LAYER}.input_layernorm.weight", "unit_offset"),
    "blk.{i}.post_attention_norm.weight": (f"{LAYER}.post_attention_layernorm.weight",
                                           "unit_offset"),
    "blk.{i}.ffn_norm.weight": (f"{LAYER}.pre_feedforward_layernorm.weight", "unit_offset"),
    "blk.{i}.post_ffw_norm.weight": (f"{LAYER}.post_feedforward_layernorm.weight",
                                     "unit_offset"),
    "blk.{i}.attn_q_norm.weight": (f"{ATTN}.q_norm.weight", "unit_offset"),
    "blk.{i}.attn_k_norm.weight": (f"{ATTN}.k_norm.weight", "unit_offset"),
    "blk.{i}.attn_q.weight": (f"{ATTN}.q_proj.weight", "same"),
    "blk.{i}.attn_k.weight": (f"{ATTN}.k_proj.weight", "same"),
    "blk.{i}.attn_v.weight": (f"{ATTN}.v_proj.weight", "same"),
    "blk.{i}.attn_output.weight": (f"{ATTN}.o_proj.weight", "same"),
    "blk.{i}.ffn_gate.weight": (f"{LAYER}.mlp.gate_proj.weight", "same"),
    "blk.{i}.ffn_up.weight": (f"{LAYER}.mlp.up_proj.weight", "same"),
    "blk.{i}.ffn_down.weight": (f"{LAYER}.mlp.down_proj.weight", "same"),
})

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 100
ENTRIES = (
    Architecture(model_type="gemma", hf_class="GemmaForCausalLM", read=read_gemma,
                 write=write_gemma, tensors=LLAMA_TENSORS, prefix="model."),
    Architecture(model_type="gemma2", hf_class="Gemma2ForCausalLM", read=read_gemma2,
                 write=write_gemma2, tensors=TENSORS, prefix="model."),
    Architecture(model_type="vaultgemma", hf_class="VaultGemmaForCausalLM",
                 read=read_vaultgemma, write=write_vaultgemma, tensors=TENSORS,
                 prefix="model."),
    Architecture(model_type="gemma3_text", hf_class="Gemma3ForCausalLM", read=read_gemma3,
                 write=write_gemma3, tensors={**TENSORS, **QK_NORMS}, prefix="model.",
                 gguf=GGUF),
    Architecture(model_type="gemma3", hf_class="Gemma3ForConditionalGeneration",
                 read=read_gemma3_multimodal, write=write_none, prefix="model.language_model.",
                 tensors={k: v._replace(hf=tuple(h.replace("model.", "model.language_model.", 1)
                                                 for h in v.hf))
                          for k, v in {**TENSORS, **QK_NORMS}.items()}),
)
