"""The long tail: transformers' model_types that are another entry's class under another name,
and those whose parameters the closed form counts exactly but whose computation zoo's decoder
does not implement (counted, not built).

Each row states the class's own defaults for the keys its reader reads (from the config class
in transformers 5.25), so a key a config.json leaves out means what it means there;
tests/test_config_defaults.py drops each key of every row's default config and holds the count
to transformers'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from zoo.architectures import apertus, deepseek, gpt, llama
from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    refuse_write,
    with_defaults,
)
from zoo.architectures.llama import read_llama_like

Reader = Callable[[Mapping[str, Any]], Config]


def _entry(module: Any, model_type: str) -> Architecture:
    return next(e for e in module.ENTRIES if e.model_type == model_type)


def _with_defaults(read: Reader, defaults: Mapping[str, Any]) -> Reader:
    return lambda c: read(with_defaults(c, defaults))


# model_types transformers builds with a class zoo builds: (that class's entry, this type's
# config-class defaults). A config naming the class in `architectures` is found without a row.
SAME_CLASS: dict[str, tuple[Architecture, dict[str, Any]]] = {
    "exaone": (_entry(llama, "llama"), {
        "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}),
    "internlm3": (_entry(llama, "llama"), {
        "vocab_size": 128512, "hidden_size": 4096, "intermediate_size": 10240,
        "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 2,
        "head_dim": 128, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5}),
    "iquestcoder": (_entry(llama, "llama"), {
        "vocab_size": 76800, "hidden_size": 5120, "intermediate_size": 27648,
        "num_hidden_layers": 80, "num_attention_heads": 40, "num_key_value_heads": 8,
        "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5}),
    "sarvam_mla": (_entry(deepseek, "deepseek_v3"), {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 16384,
        "num_hidden_layers": 32, "num_attention_heads": 64, "max_position_embeddings": 4096,
        "moe_intermediate_size": 2048, "n_shared_experts": 1, "n_routed_experts": 128,
        "kv_lora_rank": 512, "q_lora_rank": None, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "qk_nope_head_dim": 128, "n_group": 1, "topk_group": 1, "num_experts_per_tok": 8,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "routed_scaling_factor": 2.5}),
    # transformers maps gpt-sw3 to GPT2Config itself: GPT-2's defaults
    "gpt-sw3": (_entry(gpt, "gpt2"), {}),
    # GLM-4.5's class with its whole head rotated (partial_rotary_factor 1.0 when absent)
    "sarvam_moe": (_entry(deepseek, "glm4_moe"), {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 8192,
        "num_hidden_layers": 19, "num_attention_heads": 64, "num_key_value_heads": 4,
        "head_dim": 64, "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "attention_bias": False, "moe_intermediate_size": 1024,
        "num_experts_per_tok": 6, "n_shared_experts": 1, "n_routed_experts": 128,
        "routed_scaling_factor": 2.5, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "use_qk_norm": True,
        "partial_rotary_factor": 1.0}),
    "param2moe": (_entry(deepseek, "glm4_moe"), {
        "vocab_size": 128000, "hidden_size": 2048, "intermediate_size": 9216,
        "num_hidden_layers": 21, "num_attention_heads": 32, "num_key_value_heads": 8,
        "head_dim": 64, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True, "attention_bias": False, "moe_intermediate_size": 2048,
        "num_experts_per_tok": 6, "n_shared_experts": 2, "n_routed_experts": 64,
        "routed_scaling_factor": 2.5, "n_group": 1, "topk_group": 1,
        "first_k_dense_replace": 1, "norm_topk_prob": True, "use_qk_norm": True,
        "partial_rotary_factor": 1.0}),
}


def _apertus_1p5(config: Mapping[str, Any]) -> Config:
    """Apertus 1.5's text decoder: Apertus's layers (apertus.read) under its own vocabulary;
    output_vocab_size (a head narrower or wider than the embedding) is refused by name."""
    c = with_defaults(config, {**apertus.DEFAULTS, "vocab_size": 266752,
                               "output_vocab_size": None})
    if c["output_vocab_size"] not in (None, c["vocab_size"]):
        raise UnsupportedConfigError(f"output_vocab_size {c['output_vocab_size']} (a head "
                                     f"of another width than the embedding) is not supported")
    return apertus.read(c)


def _bitnet(c: Mapping[str, Any]) -> Config:
    """BitNet b1.58: LLaMA's layer with an RMSNorm over the attention's output before o_proj
    and one over the MLP's hidden before down_proj (ternary weights are a quantisation, not a
    count); attention_bias on q, k, v and the output."""
    c = with_defaults(c, {
        "vocab_size": 128256, "hidden_size": 2560, "intermediate_size": 6912,
        "num_hidden_layers": 30, "num_attention_heads": 20, "num_key_value_heads": 5,
        "hidden_act": "relu2", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False})
    bias = bool(c["attention_bias"])
    return read_llama_like(c, sub_norms=True, qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=False)


def _doge(c: Mapping[str, Any]) -> Config:
    """Doge: QK-norm over each head, a dynamic mask (a decay per key/value head and a step
    projected from the values), a learned scale on each residual, attention_bias on q, k, v,
    the output and the step, mlp_bias on the gated MLP. is_moe (its cross-domain MoE: experts
    as embedding rows found by product keys) is refused by name."""
    c = with_defaults(c, {
        "vocab_size": 32768, "hidden_size": 1024, "intermediate_size": 2048,
        "num_hidden_layers": 32, "hidden_act": "silu", "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False, "max_position_embeddings": 2048,
        "num_attention_heads": 8, "num_key_value_heads": None, "attention_bias": False,
        "mlp_bias": False, "is_moe": False})
    if c["is_moe"]:
        raise UnsupportedConfigError("doge with is_moe true (experts as embedding rows chosen "
                                     "by product keys) is not supported")
    bias = bool(c["attention_bias"])
    return read_llama_like(c, qk_norm="head", qkv_bias=bias, attn_out_bias=bias,
                           mlp_bias=bool(c["mlp_bias"]), dynamic_mask=True,
                           residual_scales=True)


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "doge": ("DogeForCausalLM", "qwen3", _doge),
    "apertus1p5_text": ("Apertus1p5TextForCausalLM", "qwen3", _apertus_1p5),
    "bitnet": ("BitNetForCausalLM", "llama", _bitnet),
}


def counted_entries(table: Mapping[str, tuple[str, str, Reader]]) -> tuple[Architecture, ...]:
    """A COUNTED table's entries: read, never written, nothing built (no tensor map)."""
    return tuple(Architecture(model_type=model_type, hf_class=hf_class, read=read,
                              write=refuse_write, tensors={}, prefix="model.", nearest=nearest)
                 for model_type, (hf_class, nearest, read) in table.items())


# where write_config tries these entries among all (lowest first; see zoo.architectures):
# last, and none of them writes a config
PRIORITY = 900
ENTRIES = (
    *(replace(entry, model_type=model_type, read=_with_defaults(entry.read, defaults),
              write=refuse_write, aliases=(), gguf=None)
      for model_type, (entry, defaults) in SAME_CLASS.items()),
    *counted_entries(COUNTED),
)
