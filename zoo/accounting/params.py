"""Closed-form accounting: parameters per component, memory, KV cache and FLOPs, with no torch.

This is the source of truth that the instantiated module and transformers are checked against,
so every formula here mirrors a module of `zoo.model` one to one: a switch that adds a tensor
there adds its count here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from zoo.accounting.compressed import (
    COMPRESSED_KINDS,
    compressed_attended,
    compressed_attention,
    compressed_cached,
    hyper_connection_params,
)
from zoo.accounting.recurrent import (
    MIXERS,
    mixer_params,
    mixer_state_size,
    mixer_state_width,
    rwkv_channel_mix,
)
from zoo.spec import ModelSpec
from zoo.units import DTYPE_BYTES, canonical_dtype

COMPONENTS = ("token_embedding", "position_embedding", "attention", "mlp", "router", "experts",
              "shared_experts", "norms", "head", "extras")
MOE_COMPONENTS = ("router", "experts", "shared_experts")
NON_EMBEDDING_CONVENTION = (
    "total minus the token and position embeddings (Kaplan et al. 2020, 'Scaling Laws for "
    "Neural Language Models'); norms, biases and an untied output head stay in")
FLOPS_CONVENTION = (
    "FLOPs, not multiply-adds: 2 per weight of every matrix a token passes through (the output "
    "head included even when tied; embedding lookups are free; of the routed experts only those "
    "a token goes through), plus 2 x n_head x (q/k head + value head) per attended key per "
    "layer (scores and weighted sum, 4 x n_head x d_head for ordinary heads); local layers "
    "attend to at most their window, chunked layers to at most their chunk (a token at the "
    "end of a full chunk); a linear-attention (Gated DeltaNet) layer attends to no "
    "key but reads and updates its recurrent state, 6 x value heads x d_k x d_v per token "
    "whatever the context (the prediction k.S, the rank-one update and the output q.S, 2 per "
    "state element each), its convolution counted as weights; a state-space (Mamba) layer "
    "likewise 6 x d_inner x d_state per token (the decay, the input's write and the output's "
    "read); a shared (weight-tied) block counts its weights and its attention once per "
    "invocation; a cross-attention layer (Mllama) attends to the image's keys, not the "
    "text's: its q and o are counted, its k and v (applied to the image) and its attention "
    "over the image are not; where an indexer picks the keys (DeepSeek-V3.2, GLM-DSA, "
    "MiniMax-M3, Kolibri 1.1, DeepSeek-V4's compressed entries) a token attends to at most "
    "its picks, and the indexer's own scoring of every key is not counted")
RECURRENT_STATE_CONVENTION = (
    "per sequence, constant in context: each linear-attention layer's recurrent state (value "
    "heads x d_k x d_v) and the last kernel - 1 inputs of its convolution (2 x q/k width + v "
    "width each); each state-space layer's scan state (d_inner x d_state) and the last kernel "
    "- 1 inputs of its convolution (Mamba: d_inner channels; Mamba-2: d_inner + 2 x groups x "
    "d_state); each short-convolution (LFM2) layer's last kernel - 1 inputs (d_model "
    "channels); each CCA (Zaya) layer's last (kernel - 1) + (grouped kernel - 1) q/k inputs "
    "and the previous token's delayed half values, beside its keys; each attention layer "
    "with Inkling's short convolutions the last kernel - 1 inputs of its key and value "
    "convolutions and of its two sublayer outputs' (per run, looped); in the dtype given; "
    "transformers keeps the state in fp32 during prefill, and its cache holds kernel columns "
    "of the convolution's input, the newest included (Zaya's: the columns counted here)")
ACTIVE_CONVENTIONS = {
    "all": "every parameter a token uses: all but the routed experts it does not go through, "
           "embedding and head included (Mixtral, Qwen3 count this way)",
    "no_embedding": "the same without the token (and position) embedding, whose lookup uses one "
                    "row; the output head stays in (DeepSeek-V3, gpt-oss count this way)",
    "no_embedding_no_head": "without the embedding and an untied output head",
}
WEIGHT_BYTES_CONVENTION = (
    "every parameter at its dtype's width, a tied head once: fp32 4 bytes, bf16 and fp16 2, "
    "int8 1, int4 0.5; a quantized file's scales and offsets and the tensors it keeps wider are "
    "not counted (zoo.quantize's int4 adds 0.125 bytes a weight for its bf16 scale and zero per "
    "32 and keeps the head int8; llama.cpp's Q4_K stores 144 bytes per 256 weights, 4.5 bits)")
TRAINING_MEMORY_CONVENTION = (
    "mixed-precision Adam: bf16 weights and gradients, fp32 master weights and two fp32 Adam "
    "moments (16 bytes per parameter); activations, which depend on batch and context, excluded")


@dataclass(frozen=True)
class LayerCount:
    """One block's parameters; `kind` is its attention ('global', 'local', 'chunked' or
    'linear').

    A MoE layer's MLP is its router, its routed experts (all of them: `per_expert` each) and its
    shared experts; `matmul` counts the matrix weights one token goes through (the routed
    experts it is sent to only)."""

    attention: int
    mlp: int
    norms: int
    kind: str = "global"
    router: int = 0
    experts: int = 0
    shared_experts: int = 0
    per_expert: int = 0
    idle_experts: int = 0  # routed experts a token does not go through
    per_layer_input: int = 0  # Gemma 4's gate and projection of the per-layer input
    idle_attention: int = 0  # attention experts' weights a token does not go through (JetMoE)
    matmul: int = 0

    @property
    def total(self) -> int:
        return (self.attention + self.mlp + self.router + self.experts + self.shared_experts
                + self.norms + self.per_layer_input)

    @property
    def active(self) -> int:
        return self.total - self.idle_experts * self.per_expert - self.idle_attention


@dataclass(frozen=True)
class ParamCount:
    """The exact count of one spec, per component and per layer, with what follows from it."""

    spec: ModelSpec
    token_embedding: int
    position_embedding: int
    attention: int
    mlp: int
    router: int
    experts: int
    shared_experts: int
    norms: int
    head: int
    extras: int
    layers: tuple[LayerCount, ...]
    tied_head: bool
    head_if_untied: int

    @property
    def total(self) -> int:
        return sum(self.components.values())

    @property
    def components(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COMPONENTS}

    @property
    def total_with_head_counted_separately(self) -> int:
        """What checkpoint files and some model cards show: a tied head counted a second time."""
        return self.total + (self.head_if_untied if self.tied_head else 0)

    @property
    def non_embedding(self) -> int:
        """See NON_EMBEDDING_CONVENTION."""
        return self.total - self.token_embedding - self.position_embedding

    # --- mixture of experts -------------------------------------------------------------
    @property
    def active(self) -> int:
        """Parameters one token uses: all but the routed experts it is not sent to (the
        `all` convention; see ACTIVE_CONVENTIONS). Equal to the total for a dense model."""
        return self.total - sum(layer.total - layer.active for layer in self.layers)

    def active_by(self, convention: str = "all") -> int:
        """The active count under one of ACTIVE_CONVENTIONS."""
        if convention not in ACTIVE_CONVENTIONS:
            raise ValueError(f"unknown active-parameter convention {convention!r}; expected one "
                             f"of {', '.join(ACTIVE_CONVENTIONS)}")
        active = self.active
        if convention != "all":
            active -= self.token_embedding + self.position_embedding
        if convention == "no_embedding_no_head":
            active -= self.head
        return active

    # --- memory -------------------------------------------------------------------------
    def weight_bytes(self, dtype: str = "bf16") -> int:
        """See WEIGHT_BYTES_CONVENTION."""
        return int(self.total * _dtype_bytes(dtype))

    def kv_cache_bytes(self, tokens: int = 1, dtype: str = "bf16", batch: int = 1) -> int:
        """Keys and values for `tokens` positions per sequence, grouped/multi-query heads as they
        are, local layers holding at most their window (a rolling cache), chunked layers at
        most their chunk (the current chunk's keys are all a query there can see), linear-
        attention layers none (their state is `recurrent_state_bytes`); a layer that shares an
        earlier layer's keys and values holds none of its own; a cross-attention layer none
        per token (it caches the image's keys and values, once per image, not counted here)."""
        spec = self.spec
        held = sum(cached * (compressed_cached(spec, kind, tokens) if kind in COMPRESSED_KINDS
                             else _attended(spec, kind, tokens)
                             * kv_cache_width(spec, kind, reused))
                   for kind, shared, cached, reused in zip(
                       spec.layer_kinds, spec.layer_kv_shared, spec.layer_cached_runs,
                       spec.layer_indexer_shared, strict=True)
                   if not shared)
        # each invocation of a shared block keeps keys of its own (Zamba)
        held += spec.shared_invocations * _attended(spec, "global", tokens) * \
            kv_cache_width(spec, "global")
        return int(batch * held * _dtype_bytes(dtype))

    def kv_cache_bytes_per_token(self, dtype: str = "bf16") -> int:
        """What one more token adds to the cache (before any window fills; a cached prefix,
        held once per sequence, aside)."""
        return self.kv_cache_bytes(1, dtype) - self.kv_cache_bytes(0, dtype)

    def recurrent_state_bytes(self, dtype: str = "bf16", batch: int = 1) -> int:
        """The linear-attention layers' state for `batch` sequences, whatever their length (see
        RECURRENT_STATE_CONVENTION); 0 without linear layers."""
        spec = self.spec
        # a looped layer keeps a state per run, as it keeps keys (Inkling 2 Loop)
        held = sum(runs * recurrent_state_width(spec, kind)
                   for kind, runs in zip(spec.layer_kinds, spec.layer_cached_runs, strict=True))
        return int(batch * held * _dtype_bytes(dtype))

    def training_memory(self) -> dict[str, int]:
        """See TRAINING_MEMORY_CONVENTION; the sum is under 'total'."""
        n = self.total
        parts = {"weights_bf16": 2 * n, "gradients_bf16": 2 * n, "master_weights_fp32": 4 * n,
                 "adam_moments_fp32": 8 * n}
        return {**parts, "total": sum(parts.values())}

    # --- compute ------------------------------------------------------------------------
    @property
    def matmul_params(self) -> int:
        """Weights of every matrix a token is multiplied by (biases, norms, lookups and the
        routed experts it is not sent to excluded)."""
        spec = self.spec
        # extras (OPT-350M's projections, a classifier) are bias-free matrices too, but for
        # the hyper-connections' biases and scales, and AltUp's scales and twice-run router
        params, matrices = hyper_connection_params(spec)
        branches, branch_matrices, _ = altup_laurel_params(spec)
        return (sum(layer.matmul for layer in self.layers) + spec.vocab_size * spec.embed_width
                + self.extras - params + matrices - branches + branch_matrices
                - head_transform_params(spec)[1])  # the transform's bias

    def attention_flops_per_token(self, context: int | None = None) -> int:
        """Scores and weighted sum for one token attending to `context` keys (itself included)."""
        spec = self.spec
        context = spec.context_length if context is None else context
        runs = (*spec.layer_runs_each, *(1,) * spec.shared_invocations)
        attended = sum(2 * (layer_q_dim(spec, kind) + layer_v_dim(spec, kind))
                       * _attention_span(spec, kind, context) * n
                       for kind, n in zip((*spec.layer_kinds,
                                           *("global",) * spec.shared_invocations), runs,
                                          strict=True))
        states = sum(6 * state_size(spec, kind) for kind in spec.layer_kinds)
        return attended + states

    def forward_flops_per_token(self, context: int | None = None) -> int:
        """See FLOPS_CONVENTION; `context` defaults to the full context length."""
        return 2 * self.matmul_params + self.attention_flops_per_token(context)

    def training_flops_per_token(self, context: int | None = None) -> int:
        """Forward plus backward (twice the forward): 3x the forward FLOPs."""
        return 3 * self.forward_flops_per_token(context)

    def to_dict(self, context: int | None = None) -> dict[str, Any]:
        """Every figure, with `caveats`: those that rest on an assumed value, and what they
        would be under its alternative (see `caveats`)."""
        context = self.spec.context_length if context is None else context
        figures = self._figures(context)
        return {**figures, "caveats": caveats(
            self.spec, lambda spec: count_params(spec)._figures(context))}

    def _figures(self, context: int) -> dict[str, Any]:
        return {
            "total": self.total,
            "components": self.components,
            "tied_head": self.tied_head,
            "total_with_head_counted_separately": self.total_with_head_counted_separately,
            "non_embedding": self.non_embedding,
            "non_embedding_convention": NON_EMBEDDING_CONVENTION,
            "active": {name: self.active_by(name) for name in ACTIVE_CONVENTIONS},
            "active_conventions": ACTIVE_CONVENTIONS,
            "per_layer": [{"layer": i, "kind": layer.kind, "attention": layer.attention,
                           "mlp": layer.mlp, **({"router": layer.router,
                                                 "experts": layer.experts,
                                                 "shared_experts": layer.shared_experts,
                                                 "active": layer.active}
                                                if layer.per_expert else {}),
                           "norms": layer.norms, "total": layer.total}
                          for i, layer in enumerate(self.layers)],
            "weight_bytes": {dtype: self.weight_bytes(dtype) for dtype in DTYPE_BYTES},
            "weight_bytes_convention": WEIGHT_BYTES_CONVENTION,
            "kv_cache": {
                "bytes_per_token": {d: self.kv_cache_bytes_per_token(d) for d in ("fp32", "bf16")},
                "context": context,
                "bytes_at_context": {d: self.kv_cache_bytes(context, d) for d in ("fp32", "bf16")},
            },
            **({"recurrent_state": {
                "linear_layers": self.spec.layer_kinds.count("linear"),
                "state_space_layers": sum(kind in MIXERS or self.spec.ssm_parallel
                                          for kind in self.spec.layer_kinds),
                "bytes_per_sequence": {d: self.recurrent_state_bytes(d) for d in ("fp32", "bf16")},
                "convention": RECURRENT_STATE_CONVENTION}} if self.spec.has_recurrent else {}),
            "flops": {
                "context": context,
                "forward_per_token": self.forward_flops_per_token(context),
                "forward_2N": 2 * self.total,
                "attention_per_token": self.attention_flops_per_token(context),
                "training_per_token": self.training_flops_per_token(context),
                "training_6N": 6 * self.total,
                "convention": FLOPS_CONVENTION,
            },
            "training_memory": {**self.training_memory(),
                                "convention": TRAINING_MEMORY_CONVENTION},
        }


# --- figures that rest on assumed values ------------------------------------------------------

# For each field a spec may mark `unpublished`: the reading that does without the assumed value
# (its short name, and the spec changes that give it). GPT-3's band width is not published; the
# alternative to assuming one is to take every layer as dense.
ALTERNATIVES: dict[str, tuple[str, Mapping[str, Any]]] = {
    "local_window": ("dense", {"attention_pattern": ["global"], "local_window": None}),
    # a config that leaves the routed experts per token unset (DeepSeek-V2's class default)
    "experts_per_token": ("one per token", {"experts_per_token": 1}),
}


@dataclass(frozen=True)
class Assumption:
    """A value a spec assumes (its source does not publish it), and the spec under the
    alternative reading (None where zoo knows no alternative: then any figure may rest on it)."""

    field: str
    value: Any
    alternative: str
    alternative_spec: ModelSpec | None

    def note(self, alternative_figure: str | None = None) -> str:
        """'assumes the unpublished local_window 128; dense: 9.664 GB'."""
        text = f"assumes the unpublished {self.field} {self.value}"
        if alternative_figure is not None:
            text += f"; {self.alternative}: {alternative_figure}"
        return text


def assumptions(spec: ModelSpec) -> list[Assumption]:
    out = []
    for name in spec.unpublished:
        alternative, changes = ALTERNATIVES.get(name, ("no alternative known", None))
        others = [field for field in spec.unpublished if field != name]
        alternative_spec = None if changes is None else spec.with_changes(
            **changes, unpublished=others)
        out.append(Assumption(name, getattr(spec, name), alternative, alternative_spec))
    return out


def resting_on(spec: ModelSpec, figure: Callable[[ModelSpec], Any]
               ) -> list[tuple[Assumption, Any]]:
    """The assumptions a figure rests on (it changes under their alternative), each with the
    figure under the alternative (None where no alternative is known)."""
    out = []
    for assumption in assumptions(spec):
        if assumption.alternative_spec is None:
            out.append((assumption, None))
            continue
        other = figure(assumption.alternative_spec)
        if other != figure(spec):
            out.append((assumption, other))
    return out


def caveated(spec: ModelSpec, figure: Callable[[ModelSpec], float],
             fmt: Callable[[float], str], text: str = "{}") -> str:
    """A figure as shown (`text` with the formatted figure in it), followed by every assumed
    value it rests on and the figure under that assumption's alternative, so that a number
    built on a guess never stands without it: "5.134 GB [assumes the unpublished local_window
    128; dense: 9.664 GB]"."""
    shown = text.format(fmt(figure(spec)))
    notes = [a.note(None if other is None else fmt(other)) for a, other in
             resting_on(spec, figure)]
    return shown + "".join(f" [{note}]" for note in notes)


def caveats(spec: ModelSpec, figures: Callable[[ModelSpec], Mapping[str, Any]]
            ) -> list[dict[str, Any]]:
    """For scripts: per assumption, the figures (keys of `figures(spec)`, flattened with dots:
    "kv_cache.bytes_at_context.bf16") that change under its alternative, with their values
    there."""
    out = []
    mine = _leaves(figures(spec))
    for assumption in assumptions(spec):
        entry: dict[str, Any] = {"field": assumption.field, "assumed": assumption.value,
                                 "published": False, "alternative": assumption.alternative}
        if assumption.alternative_spec is None:
            out.append({**entry, "under_alternative": None})
            continue
        theirs = _leaves(figures(assumption.alternative_spec))
        changed = {key: theirs.get(key) for key, value in mine.items()
                   if theirs.get(key) != value}
        if changed:
            out.append({**entry, "under_alternative": changed})
    return out


def _leaves(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_leaves(value, f"{prefix}{key}."))
        elif not isinstance(value, (list, str)):
            out[f"{prefix}{key}"] = value
    return out


def _dtype_bytes(dtype: str) -> float:
    return DTYPE_BYTES[canonical_dtype(dtype)]


def _attended(spec: ModelSpec, kind: str, context: int) -> int:
    """Keys one token attends to (and a layer of this kind caches) at `context` tokens."""
    if kind in COMPRESSED_KINDS:  # DeepSeek-V4's window and compressed entries
        return compressed_attended(spec, kind, context)
    if kind == "linear" or kind in MIXERS or kind in ("cross", "none"):  # no keys of the text
        return 0  # kept (a recurrent state instead, the image's keys, or no mixer)
    context += spec.cached_prefix  # CPM-Ant's prompt tokens before every sequence
    if kind == "local" and spec.local_window is not None:
        return min(context, spec.local_window)
    if kind == "chunked" and spec.attention_chunk is not None:
        return min(context, spec.attention_chunk)
    return context


def _attention_span(spec: ModelSpec, kind: str, context: int) -> int:
    """Keys one token's query attends to at `context` tokens: those the layer caches, but at
    most indexed_keys on an `indexed` layer (its indexer's picks, sinks and local tokens) and
    at most indexer_topk where an indexer picks them (DeepSeek-V3.2's and GLM-DSA's latent
    layers, those reusing an earlier layer's picks included; MiniMax-M3's block_sparse
    layers: indexer_topk = blocks x block size)."""
    if kind == "indexed":
        assert spec.indexed_keys is not None
        return min(context, spec.indexed_keys)
    attended = _attended(spec, kind, context)
    picked = kind == "block_sparse" or (spec.sparse_attention and spec.latent
                                        and kind == "global")
    if picked and spec.indexer_topk is not None:
        return min(attended, spec.indexer_topk)
    return attended


def linear_state_size(spec: ModelSpec) -> int:
    """Elements of one linear-attention layer's recurrent state: a d_k x d_v matrix per value
    head."""
    if not spec.has_linear:
        return 0
    assert spec.linear_d_head_k is not None
    return spec.linear_d_head_k * spec.linear_v_dim


def state_size(spec: ModelSpec, kind: str) -> int:
    """Elements of the recurrent state one layer of this kind reads and updates per token (0
    for a layer that keeps keys, or nothing)."""
    if kind in MIXERS:
        return mixer_state_size(spec, kind)
    if spec.ssm_parallel and kind != "none":  # Falcon-H1: the Mamba-2 beside the attention
        return mixer_state_size(spec, "mamba2")
    return linear_state_size(spec) if kind == "linear" else 0


def recurrent_state_width(spec: ModelSpec, kind: str = "linear") -> int:
    """Values one layer of this kind keeps per sequence whatever the context (0 for a layer
    that keeps keys): a linear-attention layer's recurrent state and its convolution's last
    kernel - 1 inputs, a state-space or short-convolution layer's likewise
    (`mixer_state_width`)."""
    if kind in MIXERS:
        return mixer_state_width(spec, kind)
    if spec.ssm_parallel and kind != "none":
        return mixer_state_width(spec, "mamba2")
    if spec.cca:
        return cca_state_width(spec, kind)
    if spec.short_convolutions:
        return short_conv_state_width(spec, kind)
    if kind != "linear" or not spec.has_linear:
        return 0
    assert spec.linear_conv_kernel is not None
    return linear_state_size(spec) + spec.linear_conv_dim * (spec.linear_conv_kernel - 1)


def short_conv_state_width(spec: ModelSpec, kind: str = "global") -> int:
    """Values an attention layer with Inkling's short convolutions keeps per sequence beside
    its keys: the last kernel - 1 inputs of the key and value convolutions (kv width each)
    and of the two sublayer outputs' (d_model each)."""
    if kind not in ("global", "local"):
        return 0
    kv = spec.layer_kv_heads(kind) * spec.layer_head_dim(kind)
    return (2 * kv * ((spec.kv_conv_kernel or 1) - 1)
            + 2 * spec.d_model * ((spec.sublayer_conv_kernel or 1) - 1))


def _norm_params(spec: ModelSpec, width: int) -> int:
    layernorm = 2 * width if spec.norm_bias else width
    return {"layernorm": layernorm, "rmsnorm": width, "nonparametric_layernorm": 0,
            "weightless_rmsnorm": 0, "l2": 0}[spec.norm]


def kv_cache_width(spec: ModelSpec, kind: str = "global", indexer_shared: bool = False) -> int:
    """Values cached per token by a layer of this kind: keys and values of the kv heads, or, for
    latent attention, the latent and the one shared rotated key (and, with sparse attention, the
    indexer's key, unless the layer reuses an earlier one's: `indexer_shared`; a block_sparse
    layer its indexer's one key beside the heads'). A global layer whose values are its keys
    (Gemma 4) still caches both: transformers stores the keys normalised and rotated, the
    values normalised apart."""
    if spec.latent:
        lora = spec.layer_kv_lora_rank(kind)
        assert lora is not None and spec.d_head_rope is not None
        return lora + spec.d_head_rope + \
            (spec.indexer_head_dim or 0) * spec.layer_indexer(kind, indexer_shared)
    index = (spec.indexer_head_dim or 0) if kind == "block_sparse" else 0
    return spec.layer_kv_heads(kind) * (spec.layer_head_dim(kind) + _value_head(spec, kind)) \
        + index


def _value_head(spec: ModelSpec, kind: str) -> int:
    """The width of one value head of a (not latent) layer of this kind."""
    return spec.d_head_v if spec.d_head_v is not None else spec.layer_head_dim(kind)


def _mlp_params(spec: ModelSpec, width: int) -> tuple[int, int]:
    """(parameters, matrix weights) of one MLP of hidden width `width`."""
    d = spec.d_model
    matrices = (3 if spec.gated else 2) * d * width
    biases = ((2 * width if spec.gated else width) + d) if spec.has_bias("mlp") else 0
    learned = 2 if spec.activation == "xielu" else 0  # xIELU's alpha_p and alpha_n
    return matrices + biases + learned, matrices


def _linear_attention_params(spec: ModelSpec) -> tuple[int, int, int]:
    """(parameters, matrix weights, norm weights inside it) of one Gated DeltaNet layer: the
    input projections to q, k, v, the output gate z and the per-value-head b (write strength)
    and a (decay step), the depthwise convolution over q, k, v (no bias), a decay rate (A_log)
    and a step bias (dt_bias) per value head, the gated RMSNorm over each value head, and the
    output projection."""
    assert spec.linear_n_v_head is not None and spec.linear_conv_kernel is not None
    assert spec.linear_d_head_v is not None
    d, k, v, heads = spec.d_model, spec.linear_k_dim, spec.linear_v_dim, spec.linear_n_v_head
    projections = d * (2 * k + 2 * v + 2 * heads) + v * d
    conv = spec.linear_conv_dim * spec.linear_conv_kernel
    return projections + conv + 2 * heads, projections + conv, spec.linear_d_head_v


def _attention_params(spec: ModelSpec, kind: str = "global", shared: bool = False,
                      indexer_shared: bool = False) -> tuple[int, int, int]:
    """(parameters, matrix weights, norm weights inside it) of one attention layer of this
    kind; a layer that shares an earlier layer's keys and values has no key/value
    projections, a latent layer that reuses an earlier indexer's choice (`indexer_shared`) no
    indexer."""
    d = spec.d_model
    if spec.latent:  # DeepSeek's multi-head latent attention, its heads and latent per
        # layer kind (dots3's)
        lora, rope = spec.layer_kv_lora_rank(kind), spec.d_head_rope
        assert lora is not None and rope is not None
        heads, q_dim, v_dim = (spec.layer_n_head(kind), layer_q_dim(spec, kind),
                               layer_v_dim(spec, kind))
        # A.X K2: the output gate's rows (one per value dim) beside the query's, read from
        # the latent before and after its norm (q_up_raw_latent)
        beside = spec.attention_output_gate and spec.q_up_raw_latent
        rows = q_dim + (v_dim if beside else 0)
        q = (d * spec.q_lora_rank + spec.q_lora_rank * (1 + spec.q_up_raw_latent) * rows
             if spec.q_lora_rank else d * rows)
        kv = d * (lora + rope) + lora * (q_dim - heads * rope + v_dim)
        matrices = q + kv + v_dim * d
        norms = _norm_params(spec, lora) + (_norm_params(spec, spec.q_lora_rank)
                                            if spec.q_lora_rank else 0)
        if spec.rope_key_norm:  # dots3's k_rope_only_layernorm
            norms += _norm_params(spec, rope)
        if spec.layer_indexer(kind, indexer_shared):  # DeepSeek-V3.2's indexer: its q
            # from the query latent, one key (LayerNorm with bias), and a weight per head
            assert spec.indexer_heads is not None and spec.indexer_head_dim is not None
            index_heads, width = spec.indexer_heads, spec.indexer_head_dim
            matrices += ((spec.q_lora_rank or 0) * index_heads * width + d * width
                         + d * index_heads)
            norms += 2 * width
        if spec.attention_output_gate and not beside:  # HY-V4's gate_proj: d_model ->
            matrices += d * v_dim  # each value dim
        if spec.attention_head_gate:  # Ling 3's and dots3's g_proj: d_model -> a gate a head
            matrices += d * heads
        return matrices + (heads if spec.attention_sinks else 0), matrices, norms
    if spec.attention_experts:  # JetMoE: one key/value projection, then per expert a query
        # and an output projection of the kv width, a router and an output bias; the
        # matrices a token goes through are those of its experts_per_token experts
        assert spec.n_experts is not None and spec.experts_per_token is not None
        width = spec.kv_dim
        shared_kv, router = 2 * d * width, d * spec.n_experts
        every = shared_kv + spec.n_experts * 2 * d * width + router
        return (every + d, shared_kv + spec.experts_per_token * 2 * d * width + router,
                0)
    if kind == "cross":
        return _cross_attention_params(spec)
    q, v_in = layer_q_dim(spec, kind), layer_v_dim(spec, kind)
    gate = q if spec.attention_output_gate else 0  # the gate's rows beside q's
    k = 0 if shared else spec.layer_kv_heads(kind) * spec.layer_head_dim(kind)
    v = 0 if shared else spec.layer_kv_heads(kind) * _value_head(spec, kind)
    projections = k if kind == "global" and spec.global_values_from_keys else k + v
    matrices = d * (q + gate + projections) + v_in * d
    attention = matrices
    if spec.has_bias("qkv"):
        attention += q + gate + projections
    if spec.has_bias("attn_out"):
        attention += d
    if spec.attention_sinks or (spec.local_sinks and kind == "local"):
        attention += spec.n_head
    if spec.attention_gate_bias:  # Beam's gate_bias: one per head, over the head's dims
        attention += spec.n_head
    if spec.attention_head_gate:  # Laguna's and LFM3's g_proj: d_model -> one gate per head
        attention += d * spec.n_head
        matrices += d * spec.n_head
    if spec.dynamic_mask:  # Doge's A per kv head and dt_proj from the values
        kv_heads = spec.layer_kv_heads(kind)
        step = kv_heads * _value_head(spec, kind) * kv_heads
        attention += kv_heads + step + (kv_heads if spec.has_bias("qkv") else 0)
        matrices += step
    if spec.residual_scales:  # the attention's residual scale (Doge) or gate (Ergo)
        attention += d
    if spec.residual_affine:  # Zaya: scale and bias on the output and on the residual
        attention += 4 * d
    if spec.cca:  # Zaya's convolutions over q and k, and its key scales
        conv, conv_matmul = cca_params(spec, kind)
        attention, matrices = attention + conv, matrices + conv_matmul
    if spec.ngpt_scales:  # nGPT's sqk and s_gate (q width each) and lambda_1 (d_model)
        attention += 2 * q + d
    if spec.differential_attention:  # DiffLlama's lambda_q1, k1, q2, k2
        attention += 4 * spec.layer_head_dim(kind)
    own, own_matrices = _inkling_attention_params(spec, kind, k, v)
    attention, matrices = attention + own, matrices + own_matrices
    if kind == "block_sparse":  # MiniMax-M3's indexer: its query heads and one key head from
        # the layer's input, an RMSNorm of the head width on each
        assert spec.indexer_heads is not None and spec.indexer_head_dim is not None
        index = d * (spec.indexer_heads + 1) * spec.indexer_head_dim
        return attention + index, matrices + index, 2 * spec.indexer_head_dim
    return attention, matrices, 0


def _inkling_attention_params(spec: ModelSpec, kind: str, k: int, v: int) -> tuple[int, int]:
    """(parameters, matrix weights) of Inkling's additions to one attention layer with k and v
    wide keys and values: the sink projection (d_model -> n_head), the relative position
    bias (d_model -> n_head x rank, and a rank x extent bank of profiles), the short
    convolutions of keys and values (kernel taps per channel; on global layers with
    kv_conv_dynamic also d_model -> kv heads x kernel each) and the sublayer convolution of
    the attention's output (d_model x kernel); 0s without them."""
    d = spec.d_model
    matrices = d * spec.n_head if spec.sink_projection else 0
    params = 0
    if spec.relative_bias_rank is not None:
        rank = spec.relative_bias_rank
        extent = spec.local_window if kind == "local" else spec.relative_bias_extent
        assert extent is not None
        matrices += d * spec.n_head * rank
        params += rank * extent
    if spec.kv_conv_kernel is not None:
        kernel = spec.kv_conv_kernel
        matrices += (k + v) * kernel
        if spec.kv_conv_dynamic and kind == "global":
            matrices += 2 * d * spec.layer_kv_heads(kind) * kernel
    if spec.sublayer_conv_kernel is not None:
        matrices += d * spec.sublayer_conv_kernel
    if spec.block_attention_residuals:  # the attention's input query (q, k, v on global
        # layers; the first layer's is taken off in _count)
        params += d * (3 if kind == "global" else 1)
    return params + matrices, matrices


def _cross_attention_params(spec: ModelSpec) -> tuple[int, int, int]:
    """(parameters, matrix weights a text token goes through, norm weights inside it) of one
    cross-attention layer (Mllama's MllamaTextCrossAttention and its block's gates): q, k, v and
    o of the global geometry without biases, an RMSNorm of head_dim over each query and each
    key head, and the block's two tanh gates (one scalar on the attention's output, one on the
    MLP's). Its keys and values are projected from the image's states, once per image: a text
    token goes through q and o only."""
    d, q, v_in = spec.d_model, layer_q_dim(spec, "global"), layer_v_dim(spec, "global")
    kv = spec.layer_kv_heads("global") * (spec.layer_head_dim("global")
                                          + _value_head(spec, "global"))
    per_token = d * q + v_in * d
    return per_token + d * kv + 2, per_token, 2 * _norm_params(spec, spec.layer_head_dim("global"))


def layer_q_dim(spec: ModelSpec, kind: str = "global") -> int:
    """Width of all query heads of a layer of this kind."""
    if spec.latent:  # the whole q/k head, its heads per layer kind (dots3's)
        return spec.layer_n_head(kind) * spec.layer_head_dim(kind)
    return spec.n_head * spec.layer_head_dim(kind)


def layer_v_dim(spec: ModelSpec, kind: str = "global") -> int:
    """Width of all value heads of a layer of this kind (the attention output's input)."""
    return (spec.layer_n_head(kind) if spec.latent else spec.n_head) * _value_head(spec, kind)


def layer_count(spec: ModelSpec, kind: str = "global", moe: bool = False,
                shared: bool = False, has_mlp: bool = True,
                indexer_shared: bool = False) -> LayerCount:
    """One block: attention of its kind, a dense MLP or experts (or both, Gemma 4), norms, and
    the per-layer input's gate and projection; `shared`: a layer that reuses an earlier
    layer's keys and values (no key/value projections or key norm; its MLP double-wide where
    the spec says so); `has_mlp=False`: a block without an MLP (Mamba, Nemotron-H's mixer layers);
    `indexer_shared`: a latent layer that reuses an earlier layer's indexer (HY-V4's), none of
    its own.
    Blocks with a state-space mixer or none (`zoo.accounting.recurrent`) are pre-norm, one norm
    per sublayer they have."""
    d = spec.d_model
    if kind in MIXERS or kind in COMPRESSED_KINDS or kind == "none":
        attention, matmul, inner_norms = (compressed_attention(spec, kind)
                                          if kind in COMPRESSED_KINDS else mixer_params(spec, kind))
        per_sublayer = 2 if spec.norm_position == "sandwich" else 1  # LFM3's, before and after
        norms = (((kind != "none") + (has_mlp or moe)) * per_sublayer * _norm_params(spec, d)
                 + inner_norms)
    elif kind == "linear":
        attention, matmul, inner_norms = _linear_attention_params(spec)
        norms = spec.norms_per_layer * _norm_params(spec, d) + inner_norms
    else:
        attention, matmul, inner_norms = _attention_params(spec, kind, shared, indexer_shared)
        if spec.ssm_parallel:  # Falcon-H1: a Mamba-2 mixer beside it, counted with it
            beside, beside_matmul, beside_norms = mixer_params(spec, "mamba2")
            attention, matmul = attention + beside, matmul + beside_matmul
            inner_norms += beside_norms
        # a block of attention alone (Nemotron-H's) has the one norm before it
        norms = ((spec.norms_per_layer if has_mlp or moe else 1) * _norm_params(spec, d)
                 + qk_norm_params(spec, kind, shared) + inner_norms)
        if spec.block_attention_residuals and kind == "global":  # k's and v's own input norms
            norms += 2 * _norm_params(spec, d)
        if spec.gated_norm_rank is not None:  # A.X K2: the first norm's gate, and on MoE
            # layers the second's: d -> rank -> d each
            gates = (1 + moe) * 2 * d * spec.gated_norm_rank
            norms, matmul = norms + gates, matmul + gates
    # Inkling's MLP-side additions: the convolution of its output, its input's query
    beside_mlp = d * (spec.sublayer_conv_kernel or 0)
    mlp_extra = beside_mlp + (d if spec.block_attention_residuals else 0)
    per_layer_input = 0
    if spec.per_layer_embed_dim is not None:  # gate d -> p, projection p -> d, a norm of d
        per_layer_input = 2 * d * spec.per_layer_embed_dim  # matrices: counted in extras
        norms += _norm_params(spec, d)
    dense_width = spec.d_ff * (2 if shared and spec.double_wide_shared_mlp else 1)
    if kind == "rwkv":  # RWKV's channel mix is the MLP of its layers
        mlp, mlp_matmul = rwkv_channel_mix(spec)
        return LayerCount(attention=attention, mlp=mlp, norms=norms, kind=kind,
                          matmul=matmul + mlp_matmul)
    if spec.sub_norms:  # BitNet's: over the attention's output (d_model wide, as its class
        # builds it) and over the MLP's hidden
        norms += _norm_params(spec, d) + _norm_params(spec, dense_width)
    if not moe:
        mlp, mlp_matmul = _mlp_params(spec, dense_width) if has_mlp else (0, 0)
        mlp += d if spec.residual_scales else 0  # the MLP's residual scale or gate
        mlp += 4 * d if spec.residual_affine else 0  # Zaya's scales and biases
        mlp += 2 * dense_width + d if spec.ngpt_scales else 0  # suv_gate, suv_up, lambda_2
        mlp += mlp_extra + (1 if spec.scalar_gains else 0)  # Inkling's global_scale
        return LayerCount(attention=attention, mlp=mlp, norms=norms, kind=kind,
                          per_layer_input=per_layer_input,
                          matmul=matmul + mlp_matmul + beside_mlp)
    assert spec.n_experts is not None and spec.experts_per_token is not None
    mlp, mlp_matmul = _mlp_params(spec, dense_width) if spec.dense_mlp_with_experts else (0, 0)
    if spec.dense_mlp_with_experts and spec.norm_position == "sandwich":
        norms += 3 * _norm_params(spec, d)  # after the MLP; before and after the experts
    if spec.moe_output_norm:  # A.X K1's post_mlp_layernorm
        norms += _norm_params(spec, d)
    per_expert, expert_matmul = _mlp_params(spec, spec.expert_width)
    shared_mlp, shared_matmul = (_mlp_params(spec, spec.shared_width)
                                 if spec.shared_width else (0, 0))
    if spec.expert_output_norms:  # Ergo: a d_model RMSNorm weight on each expert's output
        per_expert += d
        shared_mlp += d if spec.shared_width else 0
    mlp += d if spec.residual_scales else 0  # Ergo's feedforward residual gate
    mlp += 4 * d if spec.residual_affine else 0  # Zaya's scales and biases
    mlp += mlp_extra
    if spec.shared_expert_gate:  # one d_model -> 1 projection
        shared_mlp, shared_matmul = shared_mlp + d, shared_matmul + d
    scored = spec.n_experts + spec.zero_experts  # LongCat-Flash's identity experts: scored,
    # no weights; a token goes through at most experts_per_token real ones
    scored += spec.n_shared_experts if spec.router_scores_shared else 0  # Inkling's sink
    real = min(spec.experts_per_token, spec.n_experts)
    router = d * scored + (scored if spec.router_bias else 0) + (
        spec.n_experts if spec.routing_bias_parameter else 0)  # ERNIE's selection bias
    if spec.router_scales:  # the input's d_model scale and one scale per expert
        router += d + spec.n_experts
    router_matmul = d * scored
    if spec.router_mlp_width is not None:  # Zaya's: down-projection, carried state's scale,
        # norm, two hidden layers, scores (the first MoE layer's scale taken off in _count)
        w = spec.router_mlp_width
        router_matmul = d * w + 2 * w * w + w * scored
        router = router_matmul + w + w + _norm_params(spec, w) + 2 * w
    router += 1 if spec.scalar_gains else 0  # Inkling's global_scale on the weights
    idle_attention = 0
    if spec.attention_experts:  # JetMoE: the MoE's output bias, and the idle query/output
        # projections of the attention experts
        mlp += d
        idle_attention = (spec.n_experts - spec.experts_per_token) * 2 * d * spec.kv_dim
    return LayerCount(attention=attention, mlp=mlp, norms=norms, kind=kind, router=router,
                      experts=spec.n_experts * per_expert, shared_experts=shared_mlp,
                      per_expert=per_expert, idle_experts=spec.n_experts - real,
                      per_layer_input=per_layer_input, idle_attention=idle_attention,
                      matmul=(matmul + mlp_matmul + router_matmul + real * expert_matmul
                              + shared_matmul + beside_mlp))


def cca_params(spec: ModelSpec, kind: str = "global") -> tuple[int, int]:
    """(parameters, matrix weights) that Zaya's Compressed Convolutional Attention adds to a
    layer's projections (ZayaCCAProjection, ZayaQKNorm): over the q and k channels (n_head +
    n_kv_head heads of d_head) a depthwise convolution (a weight per channel and tap, a bias
    per channel) and one grouped by head (a head's channels mixed, d_head weights per channel
    and tap, a bias per channel), and a key scale per kv head. Its value projections (half of
    each head from the current token, half delayed) hold the usual d_model x kv width."""
    assert spec.cca_depthwise_kernel is not None and spec.cca_grouped_kernel is not None
    head = spec.layer_head_dim(kind)
    channels = layer_q_dim(spec, kind) + spec.layer_kv_heads(kind) * head
    weights = channels * (spec.cca_depthwise_kernel + head * spec.cca_grouped_kernel)
    return weights + 2 * channels + spec.layer_kv_heads(kind), weights


def cca_state_width(spec: ModelSpec, kind: str = "global") -> int:
    """Values a CCA layer keeps per sequence beside its keys (transformers' conv and recurrent
    states): the q and k channels' last (kernel - 1) + (grouped kernel - 1) inputs, which the
    two convolutions read, and the previous token's delayed half of the values."""
    if not spec.cca or kind not in ("global", "local"):
        return 0
    assert spec.cca_depthwise_kernel is not None and spec.cca_grouped_kernel is not None
    kv = spec.layer_kv_heads(kind) * spec.layer_head_dim(kind)
    taps = spec.cca_depthwise_kernel - 1 + spec.cca_grouped_kernel - 1
    return (layer_q_dim(spec, kind) + kv) * taps + kv // 2


def shared_block_params(spec: ModelSpec) -> tuple[int, int, int, int]:
    """(attention, MLP, norms, matrix weights) of one weight-tied shared block (Zamba's
    ZambaAttentionDecoderLayer, Zamba2's Zamba2AttentionDecoderLayer): an RMSNorm over the
    residual concatenated with the token embedding (2 x d_model), q, k and v from that width
    and o back to d_model, no biases; an RMSNorm of d_model and a gated MLP of d_ff. Counted
    once per block, however often it runs."""
    d = spec.d_model
    attention = 2 * d * (spec.q_dim + 2 * spec.kv_dim) + spec.v_dim * d
    mlp, mlp_matmul = _mlp_params(spec, spec.d_ff)
    return attention, mlp, _norm_params(spec, 2 * d) + _norm_params(spec, d), \
        attention + mlp_matmul


def shared_invocation_params(spec: ModelSpec) -> tuple[int, int]:
    """(attention side, MLP side) of what one invocation of a shared block owns, all of it
    matrices: the d_model x d_model linear that adds the block's output to the layer's input,
    the adapters of q, k and v (2 x d_model -> rank -> 2 x d_model each, with
    shared_attention_adapters), and the adapter of the MLP's gate and up projections
    (d_model -> rank -> 2 x d_ff)."""
    d, rank = spec.d_model, spec.shared_adapter_rank or 0
    attention = d * d + (3 * 2 * (2 * d * rank) if spec.shared_attention_adapters else 0)
    return attention, rank * (d + 2 * spec.d_ff)


def altup_laurel_params(spec: ModelSpec) -> tuple[int, int, int]:
    """(parameters outside norms, the matrix weights a token goes through, norm weights) of
    Gemma 3n's AltUp and LAuReL, all layers together (0s without them). AltUp: the 2 (n - 1)
    d_model x d_model projections to and from the extra streams; per layer the router's RMSNorm
    and d_model x n matrix (a token goes through it twice: before the layer, to predict, and
    after, to correct), the n x n^2 prediction and n x n correction coefficients, and the
    corrected stream's d_model scale (not a matrix). LAuReL: per layer d_model x rank, rank x
    d_model and an RMSNorm of d_model."""
    d, layers = spec.d_model, spec.n_layer
    params = matrices = norms = 0
    if spec.altup_streams is not None:
        n = spec.altup_streams
        coefficients = n * n * n + n * n
        params += layers * (d * n + coefficients + d) + 2 * (n - 1) * d * d
        matrices += layers * (2 * d * n + coefficients) + 2 * (n - 1) * d * d
        norms += layers * _norm_params(spec, d)
    if spec.laurel_rank is not None:
        branch = layers * 2 * d * spec.laurel_rank
        params, matrices = params + branch, matrices + branch
        norms += layers * _norm_params(spec, d)
    return params, matrices, norms


def head_transform_params(spec: ModelSpec) -> tuple[int, int]:
    """BERT's prediction head before the output head (head_transform): its d_model x d_model
    dense and that dense's bias (its norm is counted with the norms)."""
    if spec.head_transform == "none":
        return 0, 0
    d = spec.d_model
    return d * d, d if spec.head_transform == "dense_bias" else 0


def relative_bias_params(spec: ModelSpec) -> int:
    """Lookups beside the token embedding that say where a token is (counted with the
    position embedding): CPM-Ant's relative bias table shared by all layers,
    relative_bias_buckets plus segment_types squared rows of n_head, and its segment
    embedding, segment_types x d_model."""
    segments = spec.segment_types or 0
    rows = (spec.relative_bias_buckets or 0) + segments * segments
    return rows * spec.n_head + segments * spec.d_model


def qk_norm_params(spec: ModelSpec, kind: str = "global", shared: bool = False) -> int:
    """QK-norm weights: one head-width vector each for q and k (q only where the keys are
    shared from an earlier layer), or one per projection width (`l2` has none). The value norm
    has no weight."""
    if spec.qk_norm == "head":
        return (1 if shared else 2) * spec.layer_head_dim(kind)
    if spec.qk_norm in ("projection", "each_head"):  # each_head: a scale per head and dim
        return spec.q_dim + spec.kv_dim
    if spec.qk_norm == "head_layernorm":  # a weight and a bias each, shared by the heads
        return (1 if shared else 2) * 2 * spec.layer_head_dim(kind)
    if spec.qk_norm == "scaled_clip":  # the queries' scale; the relative states' likewise
        return spec.n_head * (spec.layer_head_dim(kind) + (spec.relative_bias_rank or 0))
    return 0


@lru_cache(maxsize=1024)
def _count(spec: ModelSpec, head: str | None, num_labels: int) -> ParamCount:
    d, width = spec.d_model, spec.embed_width
    shape_of = list(zip(spec.layer_kinds, spec.layer_moe, spec.layer_kv_shared,
                        (kind != "none" for kind in spec.layer_mlp), spec.layer_indexer_shared,
                        strict=True))
    layers = {shape: layer_count(spec, *shape) for shape in set(shape_of)}
    per_layer = tuple(layers[shape] for shape in shape_of)
    shared: tuple[int, int, int] = (0, 0, 0)  # the shared blocks' weights, in no layer
    if spec.shared_blocks is not None:  # each invoking layer owns its linear and adapters,
        # and its token passes through a shared block's matrices
        attention, mlp, block_norms, block_matmul = shared_block_params(spec)
        shared = (spec.shared_blocks * attention, spec.shared_blocks * mlp,
                  spec.shared_blocks * block_norms)
        own_attention, own_mlp = shared_invocation_params(spec)
        per_layer = tuple(
            replace(layer, attention=layer.attention + own_attention, mlp=layer.mlp + own_mlp,
                    matmul=layer.matmul + block_matmul + own_attention + own_mlp)
            if invokes else layer
            for layer, invokes in zip(per_layer, spec.layer_shared_block, strict=True))
    if spec.layer_runs != (1,):  # a layer run n times: its matrices n times per token
        per_layer = tuple(replace(layer, matmul=layer.matmul * runs)
                          for layer, runs in zip(per_layer, spec.layer_runs_each, strict=True))
    if spec.block_attention_residuals:  # the first layer's attention reads the embedding
        first = per_layer[0]
        query = d * (3 if first.kind == "global" else 1)
        per_layer = (replace(first, attention=first.attention - query), *per_layer[1:])
    if spec.loop_gate_rank is not None:  # Inkling 2 Loop: each looped layer's four message
        # queries and gates, the gates run on every pass after the first
        gates = 4 * 4 * d * spec.loop_gate_rank
        per_layer = tuple(
            replace(layer, attention=layer.attention + gates + 4 * d,
                    matmul=layer.matmul + (runs - 1) * gates) if runs > 1 else layer
            for layer, runs in zip(per_layer, spec.layer_runs_each, strict=True))
    if not spec.first_attn_norm:  # ModernBERT decoder: the embedding norm stands in
        first = per_layer[0]
        per_layer = (replace(first, norms=first.norms - _norm_params(spec, d)), *per_layer[1:])
    if spec.last_attn_out_bias:  # GPT-NeoX Japanese: on the last layer's output alone
        last = per_layer[-1]
        per_layer = (*per_layer[:-1], replace(last, attention=last.attention + d))
    if spec.router_mlp_width is not None:  # Zaya: the first router has no state to carry
        first = spec.layer_moe.index(True)
        router = per_layer[first].router - spec.router_mlp_width
        per_layer = (*per_layer[:first], replace(per_layer[first], router=router),
                     *per_layer[first + 1:])
    branches, _, branch_norms = altup_laurel_params(spec)  # Gemma 3n's, in no layer's count
    norms = sum(layer.norms for layer in per_layer) + shared[2] + branch_norms
    norms += _norm_params(spec, d) * (int(spec.final_norm) + int(spec.embedding_norm)
                                      + int(spec.head_transform != "none"))
    per_layer_table = 0
    if spec.per_layer_embed_dim is not None:
        # Gemma 4's per-layer inputs: a lookup table (an embedding) of n_layer x p per token,
        # and a projection of the token embedding to the same, normalised per layer (a norm
        # of p); each layer's gate and projection of its slice (LayerCount.per_layer_input)
        packed = spec.n_layer * spec.per_layer_embed_dim
        per_layer_table = spec.per_layer_vocab_size * packed
        norms += _norm_params(spec, spec.per_layer_embed_dim)
        extras_ple = d * packed + sum(layer.per_layer_input for layer in per_layer)
    else:
        extras_ple = 0
    head_matrix = spec.vocab_size * width
    head_params = (0 if spec.tie_embeddings else head_matrix)
    head_params += spec.vocab_size if spec.head_bias else 0
    head_params += spec.vocab_size if spec.ngpt_scales else 0  # nGPT's logit scale per token
    # DeepSeek-V4's hyper-connection mixings (their biases and scales are counted with them)
    extras = ((2 * width * d if spec.embed_dim is not None else 0) + extras_ple
              + hyper_connection_params(spec)[0] + branches
              + (d if spec.initial_state else 0)  # HRM's z_L_init
              + (2 * d if spec.residual_affine else 0)  # Zaya's embedding scale and bias
              # an assistant's projections from and to its target's width (2w -> d, d -> w)
              + (3 * spec.target_width * d if spec.target_width is not None else 0)
              + (d * spec.head_centroids if spec.head_centroids is not None else 0)
              + (d if spec.block_attention_residuals else 0)  # Inkling 2's final query
              + sum(head_transform_params(spec)))
    if head == "classify":
        extras += d * num_labels
    elif head is not None:
        raise ValueError(f"unknown head {head!r}; expected None (language model) or 'classify'")
    learned = spec.position == "learned"
    return ParamCount(
        spec=spec,
        token_embedding=(spec.vocab_size + spec.extra_embedding_rows) * width + per_layer_table,
        position_embedding=((spec.context_length + spec.position_offset) * d if learned else 0)
        + relative_bias_params(spec),
        attention=sum(layer.attention for layer in per_layer) + shared[0],
        mlp=sum(layer.mlp for layer in per_layer) + shared[1],
        router=sum(layer.router for layer in per_layer),
        experts=sum(layer.experts for layer in per_layer),
        shared_experts=sum(layer.shared_experts for layer in per_layer),
        norms=norms,
        head=head_params,
        extras=extras,
        layers=per_layer,
        tied_head=spec.tie_embeddings,
        head_if_untied=head_matrix,
    )


def count_params(spec: ModelSpec, *, head: str | None = None, num_labels: int = 2) -> ParamCount:
    """The exact parameter count of a model, by closed form; `head='classify'` adds the GPT
    paper's linear classifier (d_model x num_labels, no bias) beside the language-model head."""
    if head == "classify" and (isinstance(num_labels, bool) or not isinstance(num_labels, int)
                               or num_labels < 1):
        raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"count_params takes a ModelSpec, got {type(spec).__name__} (zoo."
                        f"count_params resolves names)")
    return _count(spec, head, num_labels if head == "classify" else 0)
