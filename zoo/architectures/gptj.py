"""EleutherAI's GPT-J (gptj): a parallel block, interleaved partial rotary, a head bias; and
Salesforce's CodeGen (codegen), GPT-J's computation with q, v and k fused in one qkv_proj laid
out in four model-parallel groups (the transform mp_qvk)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    activation,
    activation_to_hf,
    fused,
    get,
    linear,
    norm,
    read_rope,
    same,
    with_defaults,
    write_rope,
)
from zoo.spec import ModelSpec

LAYER = "transformer.h.{i}"


def read(c: Mapping[str, Any]) -> Config:
    d, heads = get(c, "n_embd"), get(c, "n_head")
    rotary_dim = get(c, "rotary_dim", default=d // heads)
    return dict(n_layer=get(c, "n_layer"), d_model=d, n_head=heads,
                d_ff=get(c, "n_inner", default=4 * d), vocab_size=get(c, "vocab_size"),
                context_length=get(c, "n_positions"), position="rotary",
                rotary_fraction=rotary_dim / (d // heads), rotary_style="interleaved",
                rope_theta=read_rope(c, scaling=False)["rope_theta"], block="parallel",
                activation=activation(c.get("activation_function", "gelu_new"),
                                      "activation_function"),
                norm_eps=get(c, "layer_norm_epsilon", default=1e-5), bias=False,
                mlp_bias=True, head_bias=True, tie_embeddings=c.get("tie_word_embeddings", False))


def write(s: ModelSpec) -> Config:
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "n_inner": s.d_ff,
            "n_positions": s.context_length, "rotary_dim": s.rotary_dim,
            "activation_function": activation_to_hf(s), "layer_norm_epsilon": s.norm_eps,
            **write_rope(s, {})}


CODEGEN_DEFAULTS = {"vocab_size": 50400, "n_positions": 2048, "n_embd": 4096, "n_layer": 28,
                   "n_head": 16, "rotary_dim": 64, "activation_function": "gelu_new",
                   "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False}


def read_codegen(config: Mapping[str, Any]) -> Config:
    """GPT-J's reading with CodeGen's defaults; its sinusoids turn at base 10000 whatever the
    config says. A null rotary_dim makes a table of n_embd dims, which transformers applies only
    with one head: with more it is refused by name."""
    c = with_defaults(config, CODEGEN_DEFAULTS)
    if c["rotary_dim"] is None and get(c, "n_head") != 1:
        raise UnsupportedConfigError("rotary_dim null with more than one head: transformers' "
                                     "CodeGen rotates with a table of n_embd dims it cannot apply")
    if get(c, "n_embd") % 4:
        raise UnsupportedConfigError(f"n_embd {c['n_embd']}: CodeGen's qkv_proj is split in 4 "
                                     f"model-parallel groups")
    return {**read({k: v for k, v in c.items() if k not in ("rope_theta", "rope_parameters",
                                                              "rope_scaling")}),
            "rope_theta": 10000.0}


def write_codegen(s: ModelSpec) -> Config:
    if s.rope_theta != 10000.0 or s.rope_scaling is not None:
        raise UnsupportedConfigError("CodeGen's rotary base is 10000, unscaled")
    return {"n_layer": s.n_layer, "n_embd": s.d_model, "n_head": s.n_head, "n_inner": s.d_ff,
            "n_positions": s.context_length, "rotary_dim": s.rotary_dim,
            "activation_function": activation_to_hf(s), "layer_norm_epsilon": s.norm_eps}


def _tensors(qkv: dict[str, Any]) -> dict[str, Any]:
    return {**same("embed.weight", "transformer.wte.weight"),
            **norm("blocks.{i}.norm1", f"{LAYER}.ln_1"), **qkv,
            **linear("blocks.{i}.attn.out", f"{LAYER}.attn.out_proj"),
            **linear("blocks.{i}.mlp.fc_in", f"{LAYER}.mlp.fc_in"),
            **linear("blocks.{i}.mlp.fc_out", f"{LAYER}.mlp.fc_out"),
            **norm("final_norm", "transformer.ln_f"),
            **linear("head", "lm_head")}


# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 30
ENTRIES = (
    Architecture(model_type="gptj", hf_class="GPTJForCausalLM", read=read, write=write,
                 prefix="transformer.", aliases=("gpt-j",),
                 tensors=_tensors(fused("blocks.{i}.attn.qkv", (
                     f"{LAYER}.attn.q_proj", f"{LAYER}.attn.k_proj", f"{LAYER}.attn.v_proj"),
                     "qkv"))),
    Architecture(model_type="codegen", hf_class="CodeGenForCausalLM", read=read_codegen,
                 write=write_codegen, prefix="transformer.",
                 tensors=_tensors(linear("blocks.{i}.attn.qkv", f"{LAYER}.attn.qkv_proj",
                                         "mp_qvk"))),
)
