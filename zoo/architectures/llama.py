"""Meta's LLaMA and Llama 2, SmolLM (llama), and Mistral (mistral): RMSNorm, SwiGLU, RoPE."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    GGUFLayout,
    UnsupportedConfigError,
    activation,
    counted_only,
    fused,
    get,
    gguf_value,
    linear,
    norm,
    read_rope,
    same,
    with_defaults,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "model.layers.{i}"
ATTN = f"{LAYER}.self_attn"
MLP = f"{LAYER}.mlp"
QK_NORMS = {**norm("blocks.{i}.attn.q_norm", f"{ATTN}.q_norm"),
            **norm("blocks.{i}.attn.k_norm", f"{ATTN}.k_norm")}
TENSORS = {
    **same("embed.weight", "model.embed_tokens.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.input_layernorm"),
    **norm("blocks.{i}.norm2", f"{LAYER}.post_attention_layernorm"),
    **fused("blocks.{i}.attn.qkv", (f"{ATTN}.q_proj", f"{ATTN}.k_proj", f"{ATTN}.v_proj"),
            "qkv"),
    **linear("blocks.{i}.attn.out", f"{ATTN}.o_proj"),
    **fused("blocks.{i}.mlp.fc_in", (f"{MLP}.gate_proj", f"{MLP}.up_proj"), "gate_up"),
    **linear("blocks.{i}.mlp.fc_out", f"{MLP}.down_proj"),
    **norm("final_norm", "model.norm"),
    **same("head.weight", "lm_head.weight"),
}


# LlamaConfig's defaults for the keys read here (num_key_value_heads and head_dim: derived)
LLAMA_DEFAULTS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                  "num_hidden_layers": 32, "num_attention_heads": 32,
                  "max_position_embeddings": 2048, "hidden_act": "silu", "rms_norm_eps": 1e-6,
                  "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False}


def read_llama_like(c: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, *,
                    partial_rotary: bool = False, longrope: bool = False, gated: bool = True,
                    **fixed: Any) -> Config:
    """What the LLaMA-shaped families share (a gated MLP, RMSNorm, rotary, GQA): the spec
    fields of their config.json, a missing key taking its class's `defaults` (none given: a
    missing size is refused by name), with `fixed` for what a family's class hard-codes;
    `partial_rotary` for the classes built with partial_rotary_factor, `longrope` for those
    built with longrope (Phi-3); `gated=False` for the two-matrix MLPs (up, hidden_act,
    down: Arcee). A gate other than SiLU, partial rotary and rope scalings without parameters
    elsewhere leave the count as it is: counted, not built."""
    c = with_defaults(c, defaults or {})
    d, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    rope = read_rope(c, longrope=longrope)
    attention_bias = bool(c.get("attention_bias", False))
    act = c.get("hidden_act", "silu")
    out = dict(n_layer=get(c, "num_hidden_layers"), d_model=d, n_head=heads,
               n_kv_head=get(c, "num_key_value_heads", default=heads),
               d_head=get(c, "head_dim", default=d // heads), d_ff=get(c, "intermediate_size"),
               vocab_size=get(c, "vocab_size"),
               context_length=get(c, "max_position_embeddings"), position="rotary", **rope,
               norm="rmsnorm", norm_eps=get(c, "rms_norm_eps", default=1e-6),
               activation="swiglu" if gated else activation(act, "hidden_act"), bias=False,
               qkv_bias=attention_bias,
               attn_out_bias=attention_bias, mlp_bias=bool(c.get("mlp_bias", False)),
               tie_embeddings=c.get("tie_word_embeddings", False))
    out = {**out, **fixed}
    if gated and act != "silu":
        counted_only(out, f"hidden_act {act!r}: zoo's gated MLP here is SwiGLU (silu)")
    if out["rotary_fraction"] != 1.0 and not partial_rotary:
        counted_only(out, "partial_rotary_factor is not built for this architecture")
    rotated = int(out["d_head"] * out["rotary_fraction"])
    if rotated % 2:  # transformers rotates one dim more (its frequencies pair dims)
        counted_only(out, f"partial_rotary_factor {out['rotary_fraction']} of head_dim "
                          f"{out['d_head']} gives {rotated} rotated dims, an odd number")
    return out


def write_llama_like(s: ModelSpec) -> Config:
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "num_attention_heads": s.n_head, "num_key_value_heads": s.kv_heads,
            "head_dim": s.head_dim, "intermediate_size": s.d_ff,
            "max_position_embeddings": s.context_length, "hidden_act": "silu",
            "rms_norm_eps": s.norm_eps, **write_rope(s, {})}


# MistralConfig's: 8 kv heads and a 4,096-token window when the config says nothing
MISTRAL_DEFAULTS = {**LLAMA_DEFAULTS, "intermediate_size": 14336,
                    "max_position_embeddings": 131072, "num_key_value_heads": 8,
                    "sliding_window": 4096}


def read(c: Mapping[str, Any], defaults: Mapping[str, Any] = LLAMA_DEFAULTS) -> Config:
    c = with_defaults(c, defaults)
    out = read_llama_like(c, defaults)
    window = c.get("sliding_window")
    if window is not None and c.get("use_sliding_window", True):
        out.update(attention_pattern=["local"], local_window=window)
    return out


def read_mistral(c: Mapping[str, Any]) -> Config:
    """MistralConfig's defaults (8 key/value heads whatever the query heads, a 4096-token
    window unless the config says null); its attention and MLP have no biases, whatever
    attention_bias or mlp_bias say."""
    c = with_defaults(c, MISTRAL_DEFAULTS)
    out = read_llama_like(c, MISTRAL_DEFAULTS, qkv_bias=False, attn_out_bias=False,
                          mlp_bias=False)
    if c.get("sliding_window") is not None:
        out.update(attention_pattern=["local"], local_window=c["sliding_window"])
    return out


def write_llama(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "attention_bias": s.has_bias("qkv"),
            "mlp_bias": s.has_bias("mlp")}


def write_mistral(s: ModelSpec) -> Config:
    return {**write_llama_like(s), "sliding_window": s.local_window if s.has_local else None}


def read_gguf_as(arch: str, model_type: str) -> Callable[[Mapping[str, Any], Collection[str]],
                                                         Config]:
    """llama.cpp's metadata of a LLaMA-shaped architecture (`arch`: llama, qwen2, qwen3) as
    the config.json of `model_type` it was converted from."""
    def read(fields: Mapping[str, Any], tensor_names: Collection[str]) -> Config:
        def value(key: str, default: Any = ..., count: bool = False) -> Any:
            return gguf_value(fields, f"{arch}.{key}", default, count=count)

        d = value("embedding_length", count=True)
        heads = value("attention.head_count", count=True)
        head_dim = value("attention.key_length", None, count=True) or d // heads
        rotary = value("rope.dimension_count", None, count=True) or head_dim
        if rotary != head_dim:
            raise UnsupportedConfigError(f"{arch}.rope.dimension_count {rotary} is not the head "
                                         f"width {head_dim} (partial rotary is not {arch})")
        scaling = value("rope.scaling.type", None)
        if scaling not in (None, "none"):
            raise UnsupportedConfigError(f"rope scaling {scaling!r} is not supported")
        config = {"model_type": model_type,
                  "num_hidden_layers": value("block_count", count=True), "hidden_size": d,
                  "intermediate_size": value("feed_forward_length", count=True),
                  "num_attention_heads": heads,
                  "num_key_value_heads": value("attention.head_count_kv", None, count=True)
                  or heads,
                  "head_dim": head_dim,
                  "max_position_embeddings": value("context_length", count=True),
                  "rope_theta": value("rope.freq_base", 10000.0),
                  "rms_norm_eps": value("attention.layer_norm_rms_epsilon"),
                  "vocab_size": value("vocab_size", None)
                  or len(fields.get("tokenizer.ggml.tokens") or []),
                  "tie_word_embeddings": "output.weight" not in tensor_names}
        window = value("attention.sliding_window", None)
        if window and arch != "llama":
            raise UnsupportedConfigError(f"{arch}.attention.sliding_window: llama.cpp's "
                                         f"{arch} has no sliding layers")
        if window:  # llama with a window: Mistral's
            config.update(model_type="mistral", sliding_window=window)
        return config
    return read


def write_gguf_as(arch: str) -> Callable[[ModelSpec], Config]:
    """A spec's metadata as llama.cpp's converter writes it for a LLaMA-shaped `arch`
    (`read_gguf_as`'s keys); what these keys cannot state (a sliding window, rope scaling) is
    refused when the fields are read back."""
    def write(s: ModelSpec) -> Config:
        return {f"{arch}.{key}": value for key, value in (
            ("context_length", s.context_length), ("embedding_length", s.d_model),
            ("block_count", s.n_layer), ("feed_forward_length", s.d_ff),
            ("attention.head_count", s.n_head), ("attention.head_count_kv", s.kv_heads),
            ("attention.key_length", s.head_dim), ("attention.value_length", s.head_dim),
            ("rope.dimension_count", s.head_dim), ("rope.freq_base", float(s.rope_theta)),
            ("attention.layer_norm_rms_epsilon", float(s.norm_eps)),
            ("vocab_size", s.vocab_size))}
    return write


# llama.cpp's tensor names of a LLaMA-shaped layer (the GGUF side of the map: what its
# converter did, undone)
GGUF_TENSORS = {
    "token_embd.weight": ("model.embed_tokens.weight", "same"),
    "output_norm.weight": ("model.norm.weight", "same"),
    "output.weight": ("lm_head.weight", "same"),
    "blk.{i}.attn_norm.weight": (f"{LAYER}.input_layernorm.weight", "same"),
    "blk.{i}.ffn_norm.weight": (f"{LAYER}.post_attention_layernorm.weight", "same"),
    "blk.{i}.attn_q.weight": (f"{ATTN}.q_proj.weight", "same"),
    "blk.{i}.attn_k.weight": (f"{ATTN}.k_proj.weight", "same"),
    "blk.{i}.attn_v.weight": (f"{ATTN}.v_proj.weight", "same"),
    "blk.{i}.attn_output.weight": (f"{ATTN}.o_proj.weight", "same"),
    "blk.{i}.ffn_gate.weight": (f"{MLP}.gate_proj.weight", "same"),
    "blk.{i}.ffn_up.weight": (f"{MLP}.up_proj.weight", "same"),
    "blk.{i}.ffn_down.weight": (f"{MLP}.down_proj.weight", "same"),
}


# llama.cpp's converter permutes the rows of q and k per head (regrouping the rotary halves
# for its kernels; its qwen2 and qwen3 rotate halves as transformers does, unpermuted)
GGUF = GGUFLayout(arch="llama", config=read_gguf_as("llama", "llama"),
                  fields=write_gguf_as("llama"), tensors={
                      **GGUF_TENSORS,
                      "blk.{i}.attn_q.weight": (f"{ATTN}.q_proj.weight", "unpermute_q"),
                      "blk.{i}.attn_k.weight": (f"{ATTN}.k_proj.weight", "unpermute_k")})

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 70
ENTRIES = (
    Architecture(model_type="llama", hf_class="LlamaForCausalLM", read=read, write=write_llama,
                 tensors=TENSORS, prefix="model.", gguf=GGUF),
    Architecture(model_type="mistral", hf_class="MistralForCausalLM", read=read_mistral,
                 write=write_mistral, tensors=TENSORS, prefix="model."),
)
