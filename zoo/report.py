"""What `zoo list`, `show`, `compare` and `plan` say about a model: plain rows, and the text
they make (no printing here)."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zoo.accounting import (
    ACTIVE_CONVENTIONS,
    COMPONENTS,
    MOE_COMPONENTS,
    NON_EMBEDDING_CONVENTION,
    ParamCount,
    caveated,
    count_params,
)
from zoo.accounting.headers import HEADER_COMPONENTS, SHOWN_NAMES, HeaderCount
from zoo.checkpoints import Resolved, label
from zoo.checkpoints.counted import Counted
from zoo.checkpoints.local import how_to_get
from zoo.registry import UnknownModelError, get_spec, slug
from zoo.spec import (
    ARCHITECTURE_FIELDS,
    ModelSpec,
    architecture_key,
    spec_from_mapping,
    to_mapping,
)
from zoo.units import DTYPE_BYTES, human_bytes, human_count, human_flops
from zoo.verify import inconsistencies

Row = tuple[str, str]


def describe_positions(spec: ModelSpec) -> str:
    if spec.position == "learned":
        offset = f", offset {spec.position_offset}" if spec.position_offset else ""
        return f"learned absolute{offset}"
    if spec.position == "sinusoidal":
        offset = f", offset {spec.position_offset}" if spec.position_offset else ""
        return f"sinusoidal ({spec.sinusoid_style}{offset})"
    if spec.position != "rotary":
        return "ALiBi" if spec.position == "alibi" else "none"
    share = "full" if spec.rotary_fraction == 1.0 else \
        f"partial {spec.rotary_dim}/{spec.head_dim} dims"
    text = f"rotary ({share}, {spec.rotary_style}, theta {spec.rope_theta:g}"
    scaling = spec.rope_scaling
    if scaling is not None:
        extra = f", from {scaling.original_context}" if scaling.original_context else ""
        text += f", {scaling.type} scaling x{scaling.factor:g}{extra}"
        if spec.local_rope_theta is not None:
            text += " on global layers"
    if spec.local_rope_theta is not None:
        text += f"; local layers theta {spec.local_rope_theta:g}"
    if not all(spec.layer_rotary):
        off = [i for i, on in enumerate(spec.layer_rotary) if not on]
        text += f"; none on layers {_layers(off)}"
    return text + ")"


def _layers(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:4])) + (", ..." if len(indices) > 4 else "")


# every attention_pattern kind as `show` names it (local and chunked with their sizes), and the
# recurrent ones in the state's row
MIXER_NAMES = {"global": "global", "local": "local", "chunked": "chunked", "linear": "linear",
               "mamba": "Mamba", "mamba2": "Mamba-2", "short_conv": "short conv",
               "rglru": "RG-LRU", "rwkv": "RWKV", "lightning": "lightning", "mlstm": "mLSTM",
               "window_mqa": "window (shared key = value)", "compressed_sparse": "CSA",
               "heavily_compressed": "HCA", "kda": "KDA",
               "block_sparse": "block-sparse (indexer)", "indexed": "indexed (top-k keys)",
               "cross": "cross-attention (image)",
               "none": "MLP-only"}
STATE_NAMES = {"linear": "linear", "mamba": "state-space", "mamba2": "state-space",
               "short_conv": "short-convolution", "rglru": "RG-LRU", "rwkv": "RWKV",
               "lightning": "lightning-attention", "mlstm": "mLSTM",
               "kda": "Kimi delta attention"}


def describe_attention(spec: ModelSpec) -> str:
    kinds = spec.attention_pattern
    if kinds == ("global",):
        shape = "dense causal"
    elif kinds == ("local",):
        shape = f"sliding window of {spec.local_window}"
    else:
        named = {**MIXER_NAMES, "local": f"local ({spec.local_window})",
                 "chunked": f"chunked ({spec.attention_chunk})"}
        runs = [(kind, len(list(group))) for kind, group in itertools.groupby(kinds)]
        shape = "repeating " + ", ".join(("" if n == 1 else f"{n} x ") + named[kind]
                                         for kind, n in runs)
    if spec.shared_blocks is not None:  # Zamba: softmax attention in the shared blocks only
        shape += (f"; {spec.shared_blocks} shared transformer block(s) of {spec.n_head} heads "
                  f"of {spec.head_dim} over the residual and the embedding, run before "
                  f"{spec.shared_invocations} layers, weights counted once, keys per run")
    looped = [runs for runs in spec.layer_runs_each if runs > 1]
    if looped:  # Dory, HRM-Text: weights counted once, each run computed (and cached)
        shape += (f"; {len(looped)} layers looped (run {', '.join(map(str, sorted(set(looped))))}"
                  f" times a token), weights counted once, keys "
                  + ("of the last run only" if spec.cache_last_run_only else "per run"))
    softmax = {"global", "local", "chunked", "block_sparse", "indexed"}
    if not set(kinds) & softmax and spec.shared_blocks is None:
        pass  # no softmax attention: its geometry (heads, QK-norm) does not apply
    elif spec.kv_heads == 1:
        shape += ", multi-query"
    elif spec.kv_heads != spec.n_head:
        shape += f", grouped-query ({spec.kv_heads} kv heads)"
    if spec.qkv_clip is not None:
        shape += f", q/k/v clipped at {spec.qkv_clip:g}"
    if spec.qk_norm != "none":
        shape += ", QK-norm " + {"head": "per head", "projection": "over the projection",
                                 "each_head": "per head, a scale for each",
                                 "head_layernorm": "per head, a LayerNorm with bias",
                                 "l2": "per head, no weight, rotary layers only",
                                 "scaled_clip": "a learned scale per head and dim on q, "
                                                "q and k L2-clipped"}[spec.qk_norm]
    if spec.temperature_tuning:
        where = "every layer" if spec.temperature_form == "all_layers" else \
            "layers without rotary"
        shape += (f", query temperature on {where} (floor {spec.temperature_floor}, "
                  f"scale {spec.temperature_scale:g})")
    if not spec.scale_attention:
        shape += ", unscaled scores"
    elif spec.query_pre_attn_scalar is not None:
        shape += f", scores / sqrt({spec.query_pre_attn_scalar:g})"
    if spec.attn_softcap is not None:
        shape += f", scores soft-capped at {spec.attn_softcap:g}"
    if spec.attention_output_gate:
        shape += ", sigmoid output gate"
    if spec.attention_head_gate:
        shape += ", an output gate per head"
    if spec.rope_key_norm:  # dots3's k_rope_only_layernorm
        shape += ", the rotated key RMS-normed"
    if spec.global_n_head is not None or spec.global_kv_lora_rank is not None:  # dots3's
        shape += (f", global layers of {spec.global_heads} heads of {spec.global_head_dim} "
                  f"over a {spec.global_latent}-wide latent")
    if spec.differential_attention:
        shape += ", differential (two softmaxes)"
    if spec.dynamic_mask:
        shape += ", dynamic mask"
    if spec.cca:  # Zaya's Compressed Convolutional Attention
        shape += (f", CCA (q and k convolved over {spec.cca_depthwise_kernel} then "
                  f"{spec.cca_grouped_kernel} tokens, half of each value head from the previous "
                  f"token)")
    if spec.d_head_v is not None and not spec.latent:
        shape += f", value heads of {spec.d_head_v}"
    if spec.local_sinks:
        shape += ", sinks on the local layers"
    if spec.indexed_keys is not None:  # Kolibri 1.1's indexed layers
        shape += f", indexed layers attending to at most {spec.indexed_keys} keys"
    if any(spec.kv_shared_pattern):  # Kolibri 1.1's kv_source_layers
        reuse = [i for i, shared in enumerate(spec.layer_kv_shared) if shared]
        shape += (f", {len(reuse)} layers ({_layers(reuse)}) reusing an earlier layer's keys "
                  f"and values")
    if any(spec.layer_indexer_shared):  # HY-V4's shared indexers
        own = [i for i, shared in enumerate(spec.layer_indexer_shared) if not shared]
        shape += (f", an indexer on {len(own)} of {spec.n_layer} layers ({_layers(own)}), the "
                  f"others reusing the last one's choice")
    if spec.has_linear:
        shape += (f"; linear layers: Gated DeltaNet, {spec.linear_n_k_head} q/k heads of "
                  f"{spec.linear_d_head_k}, {spec.linear_n_v_head} value heads of "
                  f"{spec.linear_d_head_v}, conv kernel {spec.linear_conv_kernel}")
    if spec.kda_full_rank_gates:
        shape += "; kda gates full rank"
    if spec.has_ssm:
        heads = f", {spec.ssm_n_head} heads in {spec.ssm_n_group} groups" \
            if spec.ssm_n_head is not None else ""
        shape += (f"; state-space layers: width {spec.ssm_d_inner}, state {spec.ssm_d_state}"
                  f"{heads}, conv kernel {spec.ssm_conv_kernel}")
    return shape


def describe_norm(spec: ModelSpec) -> str:
    norm = f"{spec.norm} ({spec.norm_position}, eps {spec.norm_eps:g})"
    if spec.norm_unit_offset:
        norm += ", scale 1 + w"
    if spec.norm_fp32_scale:
        norm += ", scaled in fp32"
    if spec.norm == "layernorm" and not spec.norm_bias:
        norm += ", no bias"
    if spec.embedding_norm:
        norm += ", embedding norm"
    return norm + ("" if spec.final_norm else ", no final norm")


def describe_biases(spec: ModelSpec) -> str:
    parts = [p for p in ("qkv", "attn_out", "mlp") if spec.has_bias(p)]
    if len(parts) == 3:
        return "all"
    return ", ".join(parts) if parts else "none"


def describe_head(spec: ModelSpec) -> str:
    text = "tied to token embedding" if spec.tie_embeddings else "untied"
    text += ", with bias" if spec.head_bias else ""
    if spec.final_softcap is not None:
        text += f", logits soft-capped at {spec.final_softcap:g}"
    return text


def describe_embedding(spec: ModelSpec) -> str | None:
    parts = []
    if spec.embed_dim is not None:
        parts.append(f"width {spec.embed_dim}, projected to/from d_model")
    if spec.scale_embeddings:
        parts.append("scaled by sqrt(d_model)")
    return "; ".join(parts) or None


def describe_multipliers(spec: ModelSpec) -> str | None:
    parts = [f"{label} x {value:g}" for label, value in (
        ("embeddings", spec.embedding_multiplier), ("residual branches",
                                                    spec.residual_multiplier),
        ("logits", spec.logit_scale)) if value != 1.0]
    if spec.attention_multiplier is not None:
        parts.append(f"attention scores x {spec.attention_multiplier:g}")
    return ", ".join(parts) or None


def _attends(spec: ModelSpec) -> bool:
    """Some layer has softmax attention (heads, keys, values)."""
    return bool(set(spec.layer_kinds) & {"global", "local", "chunked"})


def _has_mlp(spec: ModelSpec) -> bool:
    return any(kind != "none" for kind in spec.layer_mlp)


# each row of `zoo show` and the architecture fields it describes; a field no row covers is
# shown on its own when it is not at its default, so a new switch is never silently omitted
DESCRIBED: tuple[tuple[str, Callable[[ModelSpec], str | None], tuple[str, ...]], ...] = (
    ("layers", lambda s: str(s.n_layer), ("n_layer",)),
    ("d_model", lambda s: str(s.d_model), ("d_model",)),
    # a recurrent stack without attention or MLP (Mamba) has no heads or MLP width to show
    ("heads", lambda s: str(s.n_head) if _attends(s) else None, ("n_head",)),
    ("kv heads", lambda s: str(s.kv_heads) if _attends(s) else None, ("n_kv_head",)),
    ("d_head", lambda s: str(s.head_dim) + (" (stated)" if s.d_head else "")
     if _attends(s) else None, ("d_head",)),
    ("d_ff", lambda s: str(s.d_ff) if _has_mlp(s) else None, ("d_ff",)),
    ("vocab", lambda s: str(s.vocab_size), ("vocab_size",)),
    ("context", lambda s: str(s.context_length), ("context_length",)),
    ("positions", describe_positions,
     ("position", "position_offset", "sinusoid_style", "rotary_fraction", "rotary_style",
      "rope_theta", "rope_scaling", "local_rope_theta", "rotary_pattern")),
    ("attention", describe_attention,
     ("attention_pattern", "local_window", "scale_attention", "query_pre_attn_scalar",
      "qk_norm", "attn_softcap", "qkv_clip", "attention_output_gate", "indexer_pattern",
      "global_n_head", "global_kv_lora_rank", "rope_key_norm",
      "linear_n_k_head",
      "linear_n_v_head", "linear_d_head_k", "linear_d_head_v", "linear_conv_kernel",
      "kda_full_rank_gates", "ssm_d_inner", "ssm_d_state", "ssm_conv_kernel", "ssm_n_head",
      "ssm_n_group")),
    ("norm", describe_norm, ("norm", "norm_eps", "norm_bias", "norm_position", "final_norm",
                             "embedding_norm", "norm_unit_offset", "norm_fp32_scale")),
    ("block", lambda s: s.block, ("block",)),
    ("activation", lambda s: s.activation if _has_mlp(s) else None, ("activation",)),
    ("biases", describe_biases, ("bias", "qkv_bias", "attn_out_bias", "mlp_bias")),
    ("head", describe_head, ("tie_embeddings", "head_bias", "final_softcap")),
    ("embedding", describe_embedding, ("embed_dim", "scale_embeddings")),
    ("multipliers", describe_multipliers, ("embedding_multiplier", "residual_multiplier",
                                           "attention_multiplier", "logit_scale")),
)


def architecture_rows(spec: ModelSpec) -> list[Row]:
    rows = [(label, text) for label, describe, _ in DESCRIBED
            if (text := describe(spec)) is not None]
    covered = {name for _, _, names in DESCRIBED for name in names}
    for name, f in ARCHITECTURE_FIELDS.items():
        value = getattr(spec, name)
        if name not in covered and value != f.default:
            rows.append((name.replace("_", " "), str(value)))
    return rows


def reported_figure(spec: ModelSpec) -> str:
    """A reported figure as its source gives it: exact integers in full, rounded ones rounded."""
    if spec.reported is None:
        return "-"
    return f"{spec.reported.params:,}" if spec.reported.exact else human_count(spec.reported.params)


def provenance_rows(spec: ModelSpec) -> list[Row]:
    reported = "-"
    if spec.reported:
        reported = f"{reported_figure(spec)} ({spec.reported.source})"
    return [("title", spec.title or "-"), ("organisation", spec.org or "-"),
            ("year", str(spec.year or "-")), ("paper", spec.paper or "-"),
            ("licence", spec.license or "-"), ("hyperparameters from", spec.hparams_source or "-"),
            ("reported params", reported),
            ("weights", weights_row(spec)),
            ("spec file", spec.source_file or "-"), ("tier", tier(spec)),
            *([("counts", spec.part_of)] if spec.part_of else []),
            *([("whole checkpoint", whole_checkpoint(spec))] if spec.rest_params is not None
              else [])]


def whole_checkpoint(spec: ModelSpec) -> str:
    """A wrapper's whole checkpoint: the text decoder counted here plus the rest (towers,
    projector) by their own closed form."""
    assert spec.rest_params is not None
    total = count_params(spec).total
    return (f"{total + spec.rest_params:,} parameters ({total:,} in this text decoder + "
            f"{spec.rest_params:,} in the rest)")


def weights_row(spec: ModelSpec) -> str:
    """Where the weights are: the Hub repo, else the local checkpoint a spec entry was read from
    (`zoo spec`), else nothing public for a spec file, and "-" for a checkpoint's own metadata,
    which knows nothing of where weights are public."""
    if spec.weights.hf:
        return spec.weights.hf
    if spec.weights.local:
        return f"local checkpoint {spec.weights.local}"
    return "not public" if spec.source_file else "-"


def tier(spec: ModelSpec) -> str:
    """Whether zoo builds the model or only counts it (the closed form is exact either way)."""
    if spec.counted_only:
        return f"counted; building it is not supported ({spec.counted_only})"
    return "counted and built"


def share(part: int, total: int) -> str:
    return f"{100 * part / total:.2f}%" if total else "-"


def component_rows(count: ParamCount) -> list[tuple[str, str, str, str]]:
    """(component, exact, human, share) rows, then the total."""
    total = count.total
    rows = []
    for name in COMPONENTS:
        value = count.components[name]
        if name in MOE_COMPONENTS and not count.spec.moe:
            continue
        label = name.replace("_", " ")
        if name == "head" and count.tied_head:
            label += " (tied: counted in token embedding)"
        rows.append((label, f"{value:,}", human_count(value), share(value, total)))
    rows.append(("total", f"{total:,}", human_count(total), "100%"))
    return rows


def _kv_at(context: int | None, dtype: str = "bf16") -> Callable[[ModelSpec], float]:
    return lambda spec: count_params(spec).kv_cache_bytes(
        spec.context_length if context is None else context, dtype)


def _forward_flops(context: int | None) -> Callable[[ModelSpec], float]:
    return lambda spec: count_params(spec).forward_flops_per_token(context)


def _training_flops(context: int | None) -> Callable[[ModelSpec], float]:
    return lambda spec: count_params(spec).training_flops_per_token(context)


def summary_rows(count: ParamCount, context: int | None = None) -> list[Row]:
    spec = count.spec
    context = spec.context_length if context is None else context
    rows = [("non-embedding", f"{count.non_embedding:,} ({human_count(count.non_embedding)})"),
            ("", f"({NON_EMBEDDING_CONVENTION})"), *active_rows(count)]
    if count.tied_head:
        separately = count.total_with_head_counted_separately
        rows.append(("head counted separately", f"{separately:,} ({human_count(separately)})"))
    rows += [(f"weights {dtype}", human_bytes(count.weight_bytes(dtype))) for dtype in DTYPE_BYTES]
    rows.append(("", "(every parameter at the dtype's width; quantization scales not counted)"))
    rows += [("KV cache per token", f"{human_bytes(count.kv_cache_bytes_per_token('bf16'))} bf16, "
                                     f"{human_bytes(count.kv_cache_bytes_per_token('fp32'))} fp32"),
             (f"KV cache at {context} tokens",
              caveated(spec, _kv_at(context), human_bytes, "{} bf16 per sequence")),
             *recurrent_rows(count),
             (f"forward FLOPs/token @ {context}",
              caveated(spec, _forward_flops(context), human_flops,
                       f"{{}} (2N = {human_flops(2 * count.total)})")),
             ("training FLOPs/token", caveated(spec, _training_flops(context), human_flops,
                                               f"{{}} (6N = {human_flops(6 * count.total)})"))]
    memory = count.training_memory()
    rows.append(("training memory", f"{human_bytes(memory['total'])} (bf16 weights "
                 f"{human_bytes(memory['weights_bf16'])} + bf16 grads "
                 f"{human_bytes(memory['gradients_bf16'])} + fp32 master "
                 f"{human_bytes(memory['master_weights_fp32'])} + Adam "
                 f"{human_bytes(memory['adam_moments_fp32'])}; activations excluded)"))
    return rows


def recurrent_rows(count: ParamCount) -> list[Row]:
    """The recurrent layers' state beside the KV cache (linear attention, state spaces, short
    convolutions, RG-LRU): constant in context, so one figure per sequence; nothing without
    them."""
    spec = count.spec
    if not spec.has_recurrent:
        return []
    beside = ("state-space" if spec.ssm_parallel else "CCA" if spec.cca else
              "short-convolution" if spec.short_convolutions else "")  # an attention
    # layer's own state: Falcon-H1's Mamba-2 beside it, Zaya's or Inkling's convolutions
    kinds = [STATE_NAMES.get(kind, beside if kind != "none" else "") for kind in spec.layer_kinds]
    layers = " and ".join(f"{kinds.count(name)} {name}" for name in dict.fromkeys(kinds) if name)
    return [("recurrent state", f"{human_bytes(count.recurrent_state_bytes('bf16'))} bf16, "
                                f"{human_bytes(count.recurrent_state_bytes('fp32'))} fp32 per "
                                f"sequence at any context ({layers} layers, each a state, "
                                f"and its convolution's last inputs where it has one)")]


ACTIVE_LABELS = {"all": "active per token", "no_embedding": "  without the embedding",
                 "no_embedding_no_head": "  without embedding and head"}


def active_rows(count: ParamCount) -> list[Row]:
    """A mixture of experts' active parameters under each convention, the one its source
    uses marked; nothing for a dense model (every parameter is active)."""
    spec = count.spec
    if not spec.moe:
        return []
    used = spec.reported.active_convention if spec.reported else None
    rows = []
    for name, row in ACTIVE_LABELS.items():
        value = count.active_by(name)
        mark = f" <- {spec.reported.source.split(':')[0]}" if name == used and spec.reported \
            else ""
        rows.append((row, f"{value:,} ({human_count(value)}){mark}"))
    zero = (f", the most: a token may pick some of {spec.zero_experts} zero-computation "
            f"experts instead" if spec.zero_experts else "")
    rows.append(("", f"({ACTIVE_CONVENTIONS['all']}; {spec.experts_per_token} of "
                     f"{spec.n_experts} routed experts per token{zero})"))
    return rows


def active_convention_rows(count: ParamCount) -> list[tuple[str, int, str, bool]]:
    """Every active-parameter convention, for a dense model too (where each is what it says
    of the whole model): (convention, exact count, what it counts, whether the model's source
    states its active figure this way)."""
    spec = count.spec
    used = spec.reported.active_convention if spec.reported and spec.moe else None
    return [(name, count.active_by(name), ACTIVE_CONVENTIONS[name], name == used)
            for name in ACTIVE_CONVENTIONS]


def list_row(spec: ModelSpec) -> dict[str, Any]:
    count = count_params(spec)
    return {"name": spec.name, "family": spec.family, "layers": spec.n_layer,
            "d_model": spec.d_model, "heads": spec.n_head, "d_ff": spec.d_ff,
            "context": spec.context_length, "vocab": spec.vocab_size, "params": count.total,
            "active": count.active, "experts": spec.n_experts,
            "reported": spec.reported.params if spec.reported else None, "year": spec.year}


def spec_json(spec: ModelSpec, context: int | None = None) -> dict[str, Any]:
    count = count_params(spec)
    return {"name": spec.name, "spec": to_mapping(spec), "params": count.to_dict(context),
            "tier": {"counted": True, "built": not spec.counted_only,
                     "message": tier(spec)},
            "part_of": spec.part_of or None,
            "whole_checkpoint": None if spec.rest_params is None else {
                "params": count.total + spec.rest_params, "rest": spec.rest_params},
            "derived": {"d_head": spec.head_dim, "kv_heads": spec.kv_heads,
                        "rotary_dim": spec.rotary_dim, "layer_kinds": list(spec.layer_kinds)}}


def compare_facts(spec: ModelSpec) -> list[Row]:
    count = count_params(spec)
    rows = [("family", spec.family), ("year", str(spec.year or "-")), *architecture_rows(spec),
            ("params", f"{count.total:,}"), ("params (human)", human_count(count.total)),
            ("reported", reported_figure(spec))]
    rows += [(f"  {name.replace('_', ' ')}",
              f"{human_count(value)} ({share(value, count.total)})")
             for name, value in count.components.items()
             if spec.moe or name not in MOE_COMPONENTS]
    if spec.moe:
        rows.append(("active per token", f"{human_count(count.active)} (all), "
                                         f"{human_count(count.active_by('no_embedding'))} "
                                         f"(no embedding)"))
    rows += [("non-embedding", human_count(count.non_embedding)),
             ("weights bf16", human_bytes(count.weight_bytes("bf16"))),
             ("KV cache/token bf16", human_bytes(count.kv_cache_bytes(1, "bf16"))),
             ("KV cache @ context bf16", caveated(spec, _kv_at(None), human_bytes)),
             *([("recurrent state bf16", human_bytes(count.recurrent_state_bytes("bf16")))]
               if spec.has_recurrent else []),
             ("forward FLOPs/token @ context",
              caveated(spec, _forward_flops(None), human_flops)),
             ("training memory (Adam)", human_bytes(count.training_memory()["total"]))]
    return rows


def compare_rows(specs: list[ModelSpec]) -> list[list[str]]:
    """One row per fact, one column per model (a fact one model lacks shows '-')."""
    columns = [dict(compare_facts(spec)) for spec in specs]
    labels = list(dict.fromkeys(label for column in columns for label in column))
    return [[label, *(column.get(label, "-") for column in columns)] for label in labels]


def spec_entry(resolved: Resolved, name: str | None = None) -> dict[str, Any]:
    """A spec file's entry for what a file describes, ready for a ZOO_SPECS folder: its name
    and family, every architecture field that is not the default, and where it was read. The
    name is `name`, else the file's own; a name the registry already holds is refused (two
    declarations of one name are an error when the folder is read), saying whether that model
    has the same architecture."""
    spec = resolved.spec
    if name is None:
        name = slug(label(Path(resolved.requested)), "model") if resolved.from_registry \
            else spec.name
    try:
        taken = get_spec(name)
    except UnknownModelError:
        taken = None
    if taken is not None:
        same = " (with this very architecture: nothing to add)" if \
            architecture_key(taken) == architecture_key(spec) else ""
        raise ValueError(f"the registry already has a model {name!r}{same}; choose another "
                         f"name with --name")
    fields = {key: value for key, value in to_mapping(spec).items()
              if key in ARCHITECTURE_FIELDS}
    entry = {"name": name, "family": spec.family, **fields,
             "hparams_source": f"read from {resolved.requested}"
                               + (f" ({resolved.format})" if resolved.format else "")}
    source = Path(resolved.requested)
    if resolved.format and not source.name.endswith(".json") and source.exists():
        # a checkpoint, not a bare config: the entry says where its weights are, so that the
        # name shows them and loads them (`zoo generate NAME`)
        entry["weights"] = {"local": str(source.resolve())}
    spec_from_mapping(entry)  # what the registry will check when it reads the entry
    return entry


# --- text ---------------------------------------------------------------------------------------

def table(rows: Sequence[Sequence[Any]], headers: Sequence[str] = (), *,
          widths: Sequence[int | None] = (), **options: Any) -> str:
    """tabulate, numbers left as written, long cells wrapped to `widths` (per column)."""
    from tabulate import tabulate

    def fit(cell: Any, width: int | None) -> Any:
        if width is None or not isinstance(cell, str) or len(cell) <= width:
            return cell
        return "\n".join(textwrap.fill(part, width) for part in cell.split("\n"))

    limits = list(widths) + [None] * (max((len(r) for r in rows), default=0) - len(widths))
    rows = [[fit(cell, width) for cell, width in zip(row, limits, strict=False)] for row in rows]
    return tabulate(rows, headers=headers, disable_numparse=True, **options)


def show_text(resolved: Resolved, local: Sequence[Any], context: int | None = None,
              layers: bool = False) -> str:
    """Everything `zoo show` says of one model: architecture, provenance and where its weights
    are (`local`: what zoo.checkpoints.local found), the count per component, the figures that
    follow, the notes, and with `layers` the count per layer."""
    spec = resolved.spec
    count = count_params(spec)
    title = f"{spec.name}" + (f"  (aliases: {', '.join(spec.aliases)})" if spec.aliases else "")
    where = [(f"weights ({f.where})", f"{f.path} ({human_bytes(f.size)})") for f in local]
    if resolved.format is not None:
        where.insert(0, (f"read from ({resolved.format})", resolved.requested))
    elif not where:
        where = [("weights locally", f"not found; to get them: {how_to_get(spec)}"
                  if spec.weights.hf else "none (no public weights)")]
    parts = [f"{title}\n{'=' * len(title)}", table(architecture_rows(spec), tablefmt="plain"),
             table(provenance_rows(spec) + where, tablefmt="plain", widths=[None, 90]),
             table(component_rows(count), ["component", "params", "", "share"],
                   colalign=("left", "right", "right", "right")),
             table(summary_rows(count, context), tablefmt="plain", widths=[None, 90])]
    notes = spec_notes(spec)
    if notes:
        parts.append("Notes:\n" + "\n".join(f"  - {note}" for note in notes))
    if layers:
        parts.append(table(layer_rows(count), LAYER_HEADERS))
    return "\n\n".join(parts)


def spec_notes(spec: ModelSpec) -> list[str]:
    """The notes `zoo show` ends with: the spec's own, where it contradicts itself, and every
    value it assumes."""
    notes = [*spec.notes, *(f"internally inconsistent: {p}" for p in inconsistencies(spec))]
    notes += [f"{name} is not published; the value here ({getattr(spec, name)}) is assumed"
              for name in spec.unpublished]
    return notes


LAYER_HEADERS = ("layer", "attention kind", "attention", "mlp", "norms", "total")


def layer_rows(count: ParamCount) -> list[list[Any]]:
    """`zoo show --layers`: the count per layer, one row each (LAYER_HEADERS)."""
    return [[i, layer.kind, f"{layer.attention:,}", f"{layer.mlp:,}", f"{layer.norms:,}",
             f"{layer.total:,}"] for i, layer in enumerate(count.layers)]


# --- what the tensor headers say -----------------------------------------------------------------

HEADER_LABELS = {"other": "other (names not classified)"}


def header_component_rows(headers: HeaderCount) -> list[tuple[str, str, str, str]]:
    """(component, exact, human, share) rows of the components the headers hold, then the
    total; "other" is always shown, so that what the names did not place is never hidden."""
    total = headers.total
    rows = [(HEADER_LABELS.get(name, name.replace("_", " ")), f"{value:,}", human_count(value),
             share(value, total))
            for name in HEADER_COMPONENTS
            if (value := headers.components[name]) or name == "other"]
    rows.append(("total", f"{total:,}", human_count(total), "100%"))
    return rows


def dtype_rows(headers: HeaderCount) -> list[list[str]]:
    """One row per stored dtype (tensors, parameters, bytes), then the quantization scales and
    the buffers, which are stored but are not parameters."""
    def size(n: int | None) -> str:
        return "-" if n is None else human_bytes(n)

    rows = [[name, f"{d.tensors:,}", f"{d.params:,}", size(d.bytes)]
            for name, d in headers.dtypes.items()]
    for what, part in (("quantization scales", headers.scales), ("buffers", headers.buffers)):
        if part is not None:
            rows.append([f"{what} (not counted)", f"{part.tensors:,}", f"{part.params:,} values",
                         size(part.bytes)])
    return rows


def unclassified_line(headers: HeaderCount) -> str | None:
    names = headers.unclassified
    if not names:
        return None
    shown = ", ".join(names[:SHOWN_NAMES // 4])
    more = f" and {len(names) - SHOWN_NAMES // 4:,} more" if len(names) > SHOWN_NAMES // 4 \
        else ""
    these = f"{len(names):,} tensors have names" if len(names) > 1 else "1 tensor has a name"
    return (f"{these} no pattern places ({headers.components['other']:,} parameters), counted "
            f"as other: {shown}{more}")


def headers_section(counted: Counted) -> str | None:
    """What `zoo show` adds for weights: the headers' count, by component and by stored dtype,
    and its check against the closed form (a warning naming both figures when they differ)."""
    if counted.headers is None:
        if counted.headers_refused is None:
            return None
        return f"Tensor headers: not counted: {counted.headers_refused}"
    headers = counted.headers
    parts = [f"Tensor headers ({headers.source}; exact for any architecture)",
             table(header_component_rows(headers), ["component", "params", "", "share"],
                   colalign=("left", "right", "right", "right")),
             table(dtype_rows(headers), ["stored as", "tensors", "params", "bytes"],
                   colalign=("left", "right", "right", "right"))]
    lines = [line for line in (unclassified_line(headers), header_check_line(counted)) if line]
    parts += ["\n".join(textwrap.fill(line, 100, subsequent_indent="  ") for line in lines)]
    return "\n\n".join(part for part in parts if part)


def header_check_line(counted: Counted) -> str | None:
    """The headers' total against the closed form: equal, or a warning naming both."""
    check = counted.check
    if check is None:
        return None
    if not check.agrees:
        return f"warning: {check.warning('the closed form from its config')}"
    return f"the headers' total equals the closed form ({check.closed_form:,})"


def headers_only_text(counted: Counted) -> str:
    """`zoo show` for weights whose architecture zoo does not know: what the headers give, said
    plainly, and the figures that need the architecture named as not computed."""
    headers = counted.headers
    assert headers is not None
    title = counted.name
    embedding = headers.components["token_embedding"] + headers.components["position_embedding"]
    rows: list[Row] = [("counted", counted.what), (f"read from ({counted.format})",
                                                  counted.requested)]
    if counted.hub is not None:
        rows.append(("from the Hub", f"{counted.hub.get('repo')} at commit "
                                     f"{str(counted.hub.get('commit'))[:12]} (config and "
                                     f"headers cached, no weights downloaded)"))
    rows += [("non-embedding", f"{headers.total - embedding:,} (the total minus the embeddings "
                               f"that tensor names place)"),
             *((f"weights {dtype}", human_bytes(int(headers.total * width)))
               for dtype, width in DTYPE_BYTES.items()),
             ("weights as stored", "-" if headers.bytes is None else human_bytes(headers.bytes)),
             ("training memory", f"{human_bytes(16 * headers.total)} (mixed-precision Adam, "
                                 f"16 bytes per parameter; activations excluded)"),
             ("KV cache, FLOPs", f"not computed: {counted.why_no_spec}")]
    parts = [f"{title}\n{'=' * len(title)}", table(rows, tablefmt="plain", widths=[None, 90]),
             headers_section(counted) or ""]
    return "\n\n".join(parts)


def headers_json(counted: Counted) -> dict[str, Any]:
    """`zoo show --json` for weights without a spec: the headers' figures, and what needs the
    architecture set to null."""
    headers = counted.headers
    assert headers is not None
    return {"name": counted.name, "spec": None, "params": None,
            "weight_bytes": {dtype: int(headers.total * width)
                             for dtype, width in DTYPE_BYTES.items()},
            "headers": counted.headers_dict()}


def compare_columns(items: Sequence[Counted]) -> list[list[str]]:
    """`compare_rows` for anything counted: a spec's facts, with what its headers count beside
    them, or for an architecture zoo does not know, what the headers count alone."""
    columns = [header_facts(item) if item.spec is None else
               dict(compare_facts(item.spec)) | _header_check_facts(item) for item in items]
    labels = list(dict.fromkeys(label for column in columns for label in column))
    return [[label, *(column.get(label, "-") for column in columns)] for label in labels]


def header_facts(item: Counted) -> dict[str, str]:
    """compare_facts' rows that headers give, for weights without a spec."""
    headers = item.headers
    assert headers is not None
    return {"family": f"- ({item.why_no_spec})", "params": f"{headers.total:,}",
            "params (human)": human_count(headers.total),
            **{f"  {HEADER_LABELS.get(name, name.replace('_', ' '))}":
               f"{human_count(value)} ({share(value, headers.total)})"
               for name, value in headers.components.items() if value},
            "weights bf16": human_bytes(2 * headers.total),
            "KV cache @ context bf16": "not computed"}


def _header_check_facts(item: Counted) -> dict[str, str]:
    if item.headers is None:
        return {}
    facts = {"params (tensor headers)": f"{item.headers.total:,}"}
    if item.check is not None:
        facts["headers vs closed form"] = "equal" if item.check.agrees else \
            f"{item.check.difference:+,} (see zoo show)"
    return facts
