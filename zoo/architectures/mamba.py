"""State-space decoders zoo builds: Mamba-2 (mamba2, Mamba2ForCausalLM).

A stack of blocks of one RMSNorm and one Mamba-2 mixer (zoo.model.ssm), no attention and no
MLP, a final norm and an untied head by default. The counted-only readers of the other
state-space classes are in zoo.architectures.recurrent, whose Mamba-2 reader this entry takes,
adding what the mixer computes beyond the parameter count: its head_dim (num_heads x head_dim
must be the scan's width, as the class checks), SiLU, and the time-step limits, which the
class applies to prompts but not to decoding steps (so only the default (0, inf), where the
two agree, is built). residual_in_fp32 keeps transformers' residual stream in fp32 under
bf16; zoo's stays in the model's dtype (the same in fp32).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    counted_only,
    defaults_under,
    get,
    linear,
    norm,
    same,
)
from zoo.architectures.recurrent import MAMBA2_DEFAULTS, read_mamba2
from zoo.spec import ModelSpec

BACKBONE = "backbone"
LAYER = f"{BACKBONE}.layers.{{i}}"
MIXER = f"{LAYER}.mixer"
# Mamba2Config's defaults for the keys the count does not read
DEFAULTS = {**MAMBA2_DEFAULTS, "head_dim": 64, "hidden_act": "silu",
            "time_step_limit": [0.0, math.inf]}


def _float(x: Any) -> float:
    """A float of config.json: transformers writes infinities as {"__float__": "Infinity"}."""
    return float(x["__float__"] if isinstance(x, Mapping) else x)


def read(config: Mapping[str, Any]) -> Config:
    c = defaults_under(config, DEFAULTS)
    out = read_mamba2(c)
    inner, heads = out["ssm_d_inner"], out["ssm_n_head"]
    if get(c, "head_dim") * heads != inner:
        raise UnsupportedConfigError(f"head_dim {c['head_dim']} x num_heads {heads} is not the "
                                     f"scan's width expand x hidden_size ({inner})")
    if c["hidden_act"] not in ("silu", "swish"):
        counted_only(out, f"hidden_act {c['hidden_act']!r}: zoo's Mamba-2 convolution is SiLU")
    limit = tuple(_float(x) for x in c["time_step_limit"])
    if limit != (0.0, math.inf):
        counted_only(out, f"time_step_limit {list(limit)}: transformers clamps the step in "
                          f"prompts but not in decoding steps; zoo builds the default (0, inf)")
    return out


def write(s: ModelSpec) -> Config:
    if (s.attention_pattern != ("mamba2",) or s.mlp_pattern != ("none",) or s.norm != "rmsnorm"
            or s.norm_position != "pre" or s.block != "sequential" or s.position != "none"
            or not s.final_norm or s.norm_unit_offset or not s.ssm_gated_norm):
        raise UnsupportedConfigError("Mamba-2: RMSNorm and a Mamba-2 mixer per block, no MLP")
    assert s.ssm_d_inner is not None and s.ssm_n_head is not None
    if s.ssm_d_inner % s.d_model or s.ssm_d_inner % s.ssm_n_head:
        raise UnsupportedConfigError("Mamba-2's scan is expand x hidden_size wide, in heads")
    return {"num_hidden_layers": s.n_layer, "hidden_size": s.d_model,
            "expand": s.ssm_d_inner // s.d_model, "num_heads": s.ssm_n_head,
            "head_dim": s.ssm_d_inner // s.ssm_n_head, "state_size": s.ssm_d_state,
            "n_groups": s.ssm_n_group, "conv_kernel": s.ssm_conv_kernel,
            "use_bias": s.ssm_proj_bias, "use_conv_bias": s.ssm_conv_bias,
            "layer_norm_epsilon": s.norm_eps, "hidden_act": "silu"}


TENSORS = {
    **same("embed.weight", f"{BACKBONE}.embeddings.weight"),
    **norm("blocks.{i}.norm1", f"{LAYER}.norm"),
    **linear("blocks.{i}.attn.in_proj", f"{MIXER}.in_proj"),
    **same("blocks.{i}.attn.conv", f"{MIXER}.conv1d.weight"),
    **same("blocks.{i}.attn.conv_bias", f"{MIXER}.conv1d.bias"),
    **same("blocks.{i}.attn.A_log", f"{MIXER}.A_log"),
    **same("blocks.{i}.attn.D", f"{MIXER}.D"),
    **same("blocks.{i}.attn.dt_bias", f"{MIXER}.dt_bias"),
    **same("blocks.{i}.attn.norm", f"{MIXER}.norm.weight"),
    **linear("blocks.{i}.attn.out_proj", f"{MIXER}.out_proj"),
    **norm("final_norm", f"{BACKBONE}.norm_f"),
    **same("head.weight", "lm_head.weight"),
}

# where write_config tries these entries among all (lowest first; see zoo.architectures)
PRIORITY = 155
ENTRIES = (
    Architecture(model_type="mamba2", hf_class="Mamba2ForCausalLM", read=read, write=write,
                 prefix=f"{BACKBONE}.", tensors=TENSORS,
                 # the mamba_ssm checkpoints (state-spaces/mamba2-*) name the embedding so;
                 # transformers' load hook renames it
                 renamed={f"{BACKBONE}.embeddings.weight": (f"{BACKBONE}.embedding.weight",)}),
)
