"""Tensor name maps between Hugging Face checkpoints and zoo, per transformers architecture.

A map is a list of rules, each taking one zoo tensor to one or more HF tensors and back, exactly
(transposes, concatenations and head regroupings only: no arithmetic, so a round trip is
bit-exact). The same rules serve the decoder's parity tests, `from_hf` and `to_hf`.

zoo keeps q, k and v in one matrix with all q heads, then all k heads, then all v heads, and
a gated MLP's gate and up projections in one [gate; up] matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from zoo.convert.hf_config import to_hf_config
from zoo.spec import ModelSpec


@dataclass(frozen=True)
class Rule:
    zoo: str
    hf: tuple[str, ...]
    to_zoo: Callable[[list[Tensor]], Tensor]
    to_hf: Callable[[Tensor], list[Tensor]]
    direct: bool = False  # the tensor is used as stored: it can stay a view of a memory map


def same(zoo: str, hf: str) -> Rule:
    return Rule(zoo, (hf,), lambda ts: ts[0], lambda t: [t], direct=True)


def transposed(zoo: str, hf: str) -> Rule:
    """GPT-1/GPT-2's Conv1D stores [in, out]; nn.Linear stores [out, in]."""
    return Rule(zoo, (hf,), lambda ts: ts[0].t().contiguous(), lambda t: [t.t().contiguous()])


def concatenated(zoo: str, hf: tuple[str, ...], sizes: list[int]) -> Rule:
    return Rule(zoo, hf, lambda ts: torch.cat(ts, 0),
                lambda t: [part.contiguous() for part in t.split(sizes, 0)])


def per_head_interleaved(zoo: str, hf: str, heads: int, head_dim: int) -> Rule:
    """GPT-NeoX and BLOOM fuse q, k, v per head: rows [h0 q, h0 k, h0 v, h1 q, ...]."""
    def to_zoo(ts: list[Tensor]) -> Tensor:
        t = ts[0]
        return t.reshape(heads, 3, head_dim, *t.shape[1:]).transpose(0, 1).reshape(t.shape)

    def to_hf(t: Tensor) -> list[Tensor]:
        return [t.reshape(3, heads, head_dim, *t.shape[1:]).transpose(0, 1).reshape(t.shape)]
    return Rule(zoo, (hf,), to_zoo, to_hf)


def grouped(zoo: str, hf: str, heads: int, kv_heads: int, head_dim: int) -> Rule:
    """Falcon's new decoder fuses per kv group: [g0 q x (heads/kv), g0 k, g0 v, g1 q ...]."""
    per = heads // kv_heads

    def to_zoo(ts: list[Tensor]) -> Tensor:
        t = ts[0]
        g = t.reshape(kv_heads, per + 2, head_dim, *t.shape[1:])
        return torch.cat([g[:, :per].reshape(-1, *t.shape[1:]),
                          g[:, per].reshape(-1, *t.shape[1:]),
                          g[:, per + 1].reshape(-1, *t.shape[1:])], 0)

    def to_hf(t: Tensor) -> list[Tensor]:
        rest = t.shape[1:]
        q, k, v = t.split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], 0)
        g = torch.cat([q.reshape(kv_heads, per, head_dim, *rest),
                       k.reshape(kv_heads, 1, head_dim, *rest),
                       v.reshape(kv_heads, 1, head_dim, *rest)], 1)
        return [g.reshape(t.shape).contiguous()]
    return Rule(zoo, (hf,), to_zoo, to_hf)


# --- per-architecture maps --------------------------------------------------------------------

@dataclass(frozen=True)
class NameMap:
    """The rules for one spec, and where the HF names live."""

    model_type: str
    prefix: str  # the base model's prefix in a *ForCausalLM state dict ("transformer." ...)
    rules: list[Rule]
    tied_hf_names: tuple[str, ...]  # HF copies of a tied head, ignored on import
    ignored: tuple[str, ...]  # suffixes of non-parameter buffers older checkpoints carry
    alternatives: dict[str, tuple[str, ...]]  # other spellings of a name, tried on import

    def resolve(self, name: str, available: Any) -> str | None:
        """The name under which `available` holds the tensor written `name` here, if any:
        checkpoints of the bare base model (as many on the hub) lack the prefix."""
        bare = name.removeprefix(self.prefix)
        for candidate in (name, bare, *self.alternatives.get(name, ())):
            if candidate in available:
                return candidate
        return None


def _norm(zoo: str, hf: str, spec: ModelSpec) -> list[Rule]:
    rules = [same(f"{zoo}.weight", f"{hf}.weight")]
    if spec.norm == "layernorm":
        rules.append(same(f"{zoo}.bias", f"{hf}.bias"))
    return rules


def _linear(zoo: str, hf: str, bias: bool, rule: Callable[[str, str], Rule] = same) -> list[Rule]:
    rules = [rule(f"{zoo}.weight", f"{hf}.weight")]
    if bias:
        rules.append(same(f"{zoo}.bias", f"{hf}.bias"))
    return rules


def _qkv_split(zoo: str, hf: tuple[str, str, str], spec: ModelSpec, bias: bool) -> list[Rule]:
    sizes = [spec.q_dim, spec.kv_dim, spec.kv_dim]
    rules = [concatenated(f"{zoo}.weight", tuple(f"{h}.weight" for h in hf), sizes)]
    if bias:
        rules.append(concatenated(f"{zoo}.bias", tuple(f"{h}.bias" for h in hf), sizes))
    return rules


def _layer_rules(spec: ModelSpec, config: Mapping[str, Any], i: int) -> list[Rule]:
    model_type = config["model_type"]
    z = f"blocks.{i}"
    qkv_bias, out_bias, mlp_bias = (spec.has_bias(p) for p in ("qkv", "attn_out", "mlp"))
    if model_type in ("gpt2", "openai-gpt"):
        h = f"h.{i}"
        return [*_norm(f"{z}.norm1", f"{h}.ln_1", spec), *_norm(f"{z}.norm2", f"{h}.ln_2", spec),
                *_linear(f"{z}.attn.qkv", f"{h}.attn.c_attn", True, transposed),
                *_linear(f"{z}.attn.out", f"{h}.attn.c_proj", True, transposed),
                *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.c_fc", True, transposed),
                *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.c_proj", True, transposed)]
    if model_type == "gpt_neo":
        h, a = f"h.{i}", f"h.{i}.attn.attention"
        return [*_norm(f"{z}.norm1", f"{h}.ln_1", spec), *_norm(f"{z}.norm2", f"{h}.ln_2", spec),
                *_qkv_split(f"{z}.attn.qkv", (f"{a}.q_proj", f"{a}.k_proj", f"{a}.v_proj"),
                            spec, False),
                *_linear(f"{z}.attn.out", f"{a}.out_proj", True),
                *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.c_fc", True),
                *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.c_proj", True)]
    if model_type == "gptj":
        h, a = f"h.{i}", f"h.{i}.attn"
        return [*_norm(f"{z}.norm1", f"{h}.ln_1", spec),
                *_qkv_split(f"{z}.attn.qkv", (f"{a}.q_proj", f"{a}.k_proj", f"{a}.v_proj"),
                            spec, False),
                *_linear(f"{z}.attn.out", f"{a}.out_proj", False),
                *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.fc_in", True),
                *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.fc_out", True)]
    if model_type == "gpt_neox":
        h = f"layers.{i}"
        qkv = f"{h}.attention.query_key_value"
        rules = [*_norm(f"{z}.norm1", f"{h}.input_layernorm", spec),
                 *_norm(f"{z}.norm2", f"{h}.post_attention_layernorm", spec),
                 per_head_interleaved(f"{z}.attn.qkv.weight", f"{qkv}.weight", spec.n_head,
                                      spec.head_dim),
                 *_linear(f"{z}.attn.out", f"{h}.attention.dense", out_bias),
                 *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.dense_h_to_4h", True),
                 *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.dense_4h_to_h", True)]
        if qkv_bias:
            rules.append(per_head_interleaved(f"{z}.attn.qkv.bias", f"{qkv}.bias", spec.n_head,
                                              spec.head_dim))
        return rules
    if model_type == "bloom":
        h = f"h.{i}"
        qkv = f"{h}.self_attention.query_key_value"
        return [*_norm(f"{z}.norm1", f"{h}.input_layernorm", spec),
                *_norm(f"{z}.norm2", f"{h}.post_attention_layernorm", spec),
                per_head_interleaved(f"{z}.attn.qkv.weight", f"{qkv}.weight", spec.n_head,
                                     spec.head_dim),
                per_head_interleaved(f"{z}.attn.qkv.bias", f"{qkv}.bias", spec.n_head,
                                     spec.head_dim),
                *_linear(f"{z}.attn.out", f"{h}.self_attention.dense", True),
                *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.dense_h_to_4h", True),
                *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.dense_4h_to_h", True)]
    if model_type == "opt":
        h, a = f"decoder.layers.{i}", f"decoder.layers.{i}.self_attn"
        return [*_norm(f"{z}.norm1", f"{h}.self_attn_layer_norm", spec),
                *_norm(f"{z}.norm2", f"{h}.final_layer_norm", spec),
                *_qkv_split(f"{z}.attn.qkv", (f"{a}.q_proj", f"{a}.k_proj", f"{a}.v_proj"),
                            spec, qkv_bias),
                *_linear(f"{z}.attn.out", f"{a}.out_proj", out_bias),
                *_linear(f"{z}.mlp.fc_in", f"{h}.fc1", mlp_bias),
                *_linear(f"{z}.mlp.fc_out", f"{h}.fc2", mlp_bias)]
    if model_type in ("llama", "mistral"):
        h, a, m = f"layers.{i}", f"layers.{i}.self_attn", f"layers.{i}.mlp"
        rules = [*_norm(f"{z}.norm1", f"{h}.input_layernorm", spec),
                 *_norm(f"{z}.norm2", f"{h}.post_attention_layernorm", spec),
                 *_qkv_split(f"{z}.attn.qkv", (f"{a}.q_proj", f"{a}.k_proj", f"{a}.v_proj"),
                             spec, qkv_bias),
                 *_linear(f"{z}.attn.out", f"{a}.o_proj", out_bias),
                 concatenated(f"{z}.mlp.fc_in.weight", (f"{m}.gate_proj.weight",
                                                        f"{m}.up_proj.weight"),
                              [spec.d_ff, spec.d_ff]),
                 *_linear(f"{z}.mlp.fc_out", f"{m}.down_proj", mlp_bias)]
        if mlp_bias:
            rules.append(concatenated(f"{z}.mlp.fc_in.bias", (f"{m}.gate_proj.bias",
                                                              f"{m}.up_proj.bias"),
                                      [spec.d_ff, spec.d_ff]))
        return rules
    if model_type == "falcon":
        h = f"h.{i}"
        qkv = f"{h}.self_attention.query_key_value"
        if config.get("new_decoder_architecture"):
            layout = grouped(f"{z}.attn.qkv.weight", f"{qkv}.weight", spec.n_head, spec.kv_heads,
                             spec.head_dim)
        elif config.get("multi_query"):
            layout = same(f"{z}.attn.qkv.weight", f"{qkv}.weight")
        else:
            layout = per_head_interleaved(f"{z}.attn.qkv.weight", f"{qkv}.weight", spec.n_head,
                                          spec.head_dim)
        if spec.block == "parallel_two_norms":
            norms = [*_norm(f"{z}.norm1", f"{h}.ln_attn", spec),
                     *_norm(f"{z}.norm2", f"{h}.ln_mlp", spec)]
        elif spec.block == "parallel":
            norms = _norm(f"{z}.norm1", f"{h}.input_layernorm", spec)
        else:
            norms = [*_norm(f"{z}.norm1", f"{h}.input_layernorm", spec),
                     *_norm(f"{z}.norm2", f"{h}.post_attention_layernorm", spec)]
        if qkv_bias:
            raise NotImplementedError("Falcon with biases is not mapped")
        return [*norms, layout,
                *_linear(f"{z}.attn.out", f"{h}.self_attention.dense", False),
                *_linear(f"{z}.mlp.fc_in", f"{h}.mlp.dense_h_to_4h", False),
                *_linear(f"{z}.mlp.fc_out", f"{h}.mlp.dense_4h_to_h", False)]
    raise ValueError(f"no name map for model_type {model_type!r}")


# (prefix, token embedding, positions, embedding norm, final norm, head) per model_type
_OUTER = {
    "openai-gpt": ("transformer.", "tokens_embed", "positions_embed", None, None, "lm_head"),
    "gpt2": ("transformer.", "wte", "wpe", None, "ln_f", "lm_head"),
    "gpt_neo": ("transformer.", "wte", "wpe", None, "ln_f", "lm_head"),
    "gptj": ("transformer.", "wte", None, None, "ln_f", "lm_head"),
    "gpt_neox": ("gpt_neox.", "embed_in", None, None, "final_layer_norm", "embed_out"),
    "bloom": ("transformer.", "word_embeddings", None, "word_embeddings_layernorm", "ln_f",
              "lm_head"),
    "opt": ("model.", "decoder.embed_tokens", "decoder.embed_positions", None,
            "decoder.final_layer_norm", "lm_head"),
    "llama": ("model.", "embed_tokens", None, None, "norm", "lm_head"),
    "mistral": ("model.", "embed_tokens", None, None, "norm", "lm_head"),
    "falcon": ("transformer.", "word_embeddings", None, None, "ln_f", "lm_head"),
}
# transformers 5 renamed GPT-NeoX's head; published checkpoints keep embed_out
HEAD_ALTERNATIVES = {"embed_out": ("lm_head",)}
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".attention.bias",
                    ".attention.masked_bias", ".rotary_emb.inv_freq", ".attn.attention.bias",
                    ".attn.attention.masked_bias")


def name_map(spec: ModelSpec, config: Mapping[str, Any] | None = None) -> NameMap:
    """The rules between `spec`'s zoo tensors and the HF architecture that computes it."""
    config = config if config is not None else to_hf_config(spec)
    model_type = config["model_type"]
    prefix, embed, positions, embed_norm, final_norm, head = _OUTER[model_type]
    p = prefix
    rules = [same("embed.weight", f"{p}{embed}.weight")]
    if positions and spec.position == "learned":
        rules.append(same("positions.weight", f"{p}{positions}.weight"))
    if spec.embed_dim is not None:  # OPT-350M
        rules += [same("project_in.weight", f"{p}decoder.project_in.weight"),
                  same("project_out.weight", f"{p}decoder.project_out.weight")]
    if embed_norm and spec.embedding_norm:
        rules += _norm("embed_norm", f"{p}{embed_norm}", spec)
    for i in range(spec.n_layer):
        for rule in _layer_rules(spec, config, i):
            rules.append(Rule(rule.zoo, tuple(p + h for h in rule.hf), rule.to_zoo, rule.to_hf,
                              rule.direct))
    if final_norm and spec.final_norm:
        rules += _norm("final_norm", f"{p}{final_norm}", spec)
    alternatives = {f"{head}.{kind}": tuple(f"{alt}.{kind}" for alt in
                                            HEAD_ALTERNATIVES.get(head, ()))
                    for kind in ("weight", "bias")}
    tied: tuple[str, ...] = ()
    if spec.tie_embeddings:
        tied = (f"{head}.weight", *alternatives[f"{head}.weight"])
    else:
        rules.append(same("head.weight", f"{head}.weight"))
    if spec.head_bias:
        rules.append(same("head.bias", f"{head}.bias"))
    return NameMap(model_type, prefix, rules, tied, IGNORED_SUFFIXES, alternatives)


def hf_to_zoo(spec: ModelSpec, tensors: Mapping[str, Tensor],
              config: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
    """A full HF state dict (names as in *ForCausalLM) -> zoo's names. Strict: every rule's
    tensors must be there, and every tensor must be used (or be a known buffer / tied copy)."""
    names = name_map(spec, config)
    found = {h: names.resolve(h, tensors) for rule in names.rules for h in rule.hf}
    missing = [h for h, where in found.items() if where is None]
    if missing:
        raise KeyError(f"checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}")
    used = set(found.values()) | set(names.tied_hf_names)
    extra = [k for k in tensors if k not in used and not k.endswith(names.ignored)]
    if extra:
        raise KeyError(f"checkpoint has {len(extra)} unexpected tensors, e.g. {extra[:3]}")
    out = {rule.zoo: rule.to_zoo([tensors[found[h]] for h in rule.hf]) for rule in names.rules}
    if spec.tie_embeddings:
        out["head.weight"] = out["embed.weight"]
    return out


def zoo_to_hf(spec: ModelSpec, tensors: Mapping[str, Tensor],
              config: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
    names = name_map(spec, config)
    out: dict[str, Tensor] = {}
    for rule in names.rules:
        out.update(zip(rule.hf, rule.to_hf(tensors[rule.zoo]), strict=True))
    return out
