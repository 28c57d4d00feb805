"""Dense decoders with DeepSeek's latent attention: OpenBMB's MiniCPM3 (minicpm3) and
Tencent's Youtu-LLM (youtu). Their q and kv latents are RMS-normalised with epsilon 1e-6
whatever rms_norm_eps says (latent_norm_eps); attention_bias (biases on q_a_proj,
kv_a_proj_with_mqa and o_proj) is refused by name, as for DeepSeek.

MiniCPM3 rotates half pairs (its cos/sin RoPE, longrope included), scales the embedding by
scale_emb, each sublayer's output by scale_depth / sqrt(num_hidden_layers) before the residual
sum, and the final hidden state by dim_model_base / hidden_size before the head; mlp_bias on
the gated MLP's three projections; v_head_dim null is hidden_size / heads. Youtu is
DeepSeek-V3's dense layer alone: rope_interleave (default true) pairs adjacent dims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    get,
    with_defaults,
)
from zoo.architectures.deepseek import (
    LATENT,
    LATENT_EPS,
    read_latent_dense,
    write_latent_dense,
)
from zoo.spec import ModelSpec

# MiniCPM3Config's defaults for the keys read (num_key_value_heads null: as many as the heads)
MINICPM3 = {
    "vocab_size": 73448, "hidden_size": 2560, "intermediate_size": 6400,
    "num_hidden_layers": 62, "num_attention_heads": 40, "num_key_value_heads": 40,
    "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
    "kv_lora_rank": 256, "q_lora_rank": 768, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32,
    "v_head_dim": None, "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 256}

# YoutuConfig's defaults for the keys read
YOUTU = {
    "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 6144,
    "num_hidden_layers": 32, "num_attention_heads": 16, "num_key_value_heads": 16,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "qk_nope_head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "attention_bias": False,
    "rope_interleave": True}


def read_minicpm3(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, MINICPM3)
    d, layers = get(c, "hidden_size"), get(c, "num_hidden_layers")
    c["v_head_dim"] = get(c, "v_head_dim", default=d // get(c, "num_attention_heads"))
    depth = get(c, "scale_depth", default=math.sqrt(layers))
    base = get(c, "dim_model_base", default=d)
    return {**read_latent_dense(c, longrope=True), "latent_norm_eps": LATENT_EPS,
            "mlp_bias": bool(c["mlp_bias"]), "rotary_style": "half",
            "embedding_multiplier": float(c["scale_emb"]),
            "residual_multiplier": depth / math.sqrt(layers), "logit_scale": base / d}


def read_youtu(config: Mapping[str, Any]) -> Config:
    c = with_defaults(config, YOUTU)
    return {**read_latent_dense(c), "latent_norm_eps": LATENT_EPS,
            "rotary_style": "interleaved" if c["rope_interleave"] else "half"}


def _write_latent_dense(s: ModelSpec) -> Config:
    if not s.latent or s.moe:
        raise UnsupportedConfigError("a dense decoder with latent attention")
    if s.latent_eps != LATENT_EPS:
        raise UnsupportedConfigError(f"the class's latent norms take epsilon {LATENT_EPS}")
    return write_latent_dense(s)


def write_minicpm3(s: ModelSpec) -> Config:
    base = s.logit_scale * s.d_model
    if base != round(base):
        raise UnsupportedConfigError(f"logit_scale {s.logit_scale} x d_model is not a whole "
                                     f"dim_model_base")
    return {**_write_latent_dense(s), "mlp_bias": s.has_bias("mlp"),
            "scale_emb": s.embedding_multiplier,
            "scale_depth": s.residual_multiplier * math.sqrt(s.n_layer),
            "dim_model_base": round(base)}


def write_youtu(s: ModelSpec) -> Config:
    return {**_write_latent_dense(s), "rope_interleave": s.rotary_style == "interleaved"}


# DeepSeek's dense layers (no experts)
TENSORS = {k: v for k, v in LATENT.items()
           if not k.startswith(("blocks.{i}.mlp.experts", "blocks.{i}.mlp.routing",
                                "blocks.{i}.mlp.shared", "blocks.{i}.mlp.router"))}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 273
ENTRIES = (
    Architecture(model_type="minicpm3", hf_class="MiniCPM3ForCausalLM", read=read_minicpm3,
                 write=write_minicpm3, tensors=TENSORS, prefix="model."),
    Architecture(model_type="youtu", hf_class="YoutuForCausalLM", read=read_youtu,
                 write=write_youtu, tensors=TENSORS, prefix="model."),
)
