"""Closed forms of DeepSeek-V4's attention and residual streams, with no torch.

Every layer attends with one shared key = value head (head_dim wide, RMS-normalised) over a
sliding window, its queries through a latent (q_lora_rank, normalised) and each query head
RMS-normalised without a weight, a learned sink logit per head, and a grouped low-rank output
projection: the heads in output_groups groups, each projected to output_rank, then mixed to
d_model. Three layer kinds: `window_mqa` (the window alone), `compressed_sparse` (CSA: a
compressor folds each sparse_compress_rate tokens into one entry, from two overlapping series,
and a lightning indexer picks the indexer_topk entries each query attends to) and
`heavily_compressed` (HCA: one entry per heavy_compress_rate tokens, all attended). Each
formula mirrors transformers 5.25's DeepseekV4Attention, DeepseekV4CSACompressor,
DeepseekV4HCACompressor and DeepseekV4Indexer tensor by tensor; zoo counts these layers but
does not build them.

Hyper-connections keep hyper_connections residual streams: each sublayer reads and writes them
through a learned mixing (`hyper_connection_params`), DeepSeek-V4's manifold-constrained one
(mHC) or HY-V4's independent one (iHC, under latent attention), of the spec's
hyper_connection_form.
"""

from __future__ import annotations

from collections.abc import Callable

from zoo.spec import ModelSpec
from zoo.spec.vocabulary import COMPRESSED_KINDS

__all__ = ["COMPRESSED_KINDS", "HYPER_CONNECTION_MIXINGS", "compressed_attended",
           "compressed_attention", "compressed_cached", "hyper_connection_params"]

Mixer = tuple[int, int, int]  # (parameters, matrix weights, norm weights inside it)


def _rate(spec: ModelSpec, kind: str) -> int:
    rate = spec.sparse_compress_rate if kind == "compressed_sparse" else spec.heavy_compress_rate
    assert rate is not None
    return rate


def compressed_attention(spec: ModelSpec, kind: str) -> Mixer:
    """One DeepSeek-V4 attention layer of this kind: q_a_proj d -> q_lora_rank (normalised),
    q_b_proj to n_head x head_dim, kv_proj d -> head_dim (normalised), o_a_proj (a block per
    group: output_rank x (n_head x head_dim / output_groups) each), o_b_proj back to d, a sink
    per head. CSA's compressor: kv_proj and gate_proj d -> 2 x head_dim (the two overlapping
    series), a position bias per slot of its window (rate x 2 x head_dim) and a head_dim norm;
    its indexer the same at indexer_head_dim, with q_b_proj from the query latent to
    indexer_heads x indexer_head_dim and weights_proj d -> indexer_heads. HCA's compressor:
    one series of head_dim, its position bias rate x head_dim, and a norm."""
    d, hd, heads = spec.d_model, spec.head_dim, spec.n_head
    latent, groups, rank = spec.q_lora_rank, spec.output_groups, spec.output_rank
    assert latent is not None and groups is not None and rank is not None
    matrices = (d * latent + latent * heads * hd + d * hd
                + groups * rank * (heads * hd // groups) + groups * rank * d)
    params, norms = matrices + heads, latent + hd
    if kind == "window_mqa":
        return params, matrices, norms
    series = 2 if kind == "compressed_sparse" else 1
    rate = _rate(spec, kind)
    projections = 2 * d * series * hd
    params, matrices, norms = (params + projections + rate * series * hd,
                               matrices + projections, norms + hd)
    if kind == "compressed_sparse":
        assert spec.indexer_heads is not None and spec.indexer_head_dim is not None
        ih, ihd = spec.indexer_heads, spec.indexer_head_dim
        indexer = 2 * d * 2 * ihd + latent * ih * ihd + d * ih
        params, matrices, norms = (params + indexer + rate * 2 * ihd, matrices + indexer,
                                   norms + ihd)
    return params, matrices, norms


def compressed_attended(spec: ModelSpec, kind: str, context: int) -> int:
    """Entries one token attends to at `context` tokens: the window's, and CSA's indexer_topk
    best compressed entries or all of HCA's."""
    assert spec.local_window is not None
    window = min(context, spec.local_window)
    if kind == "window_mqa":
        return window
    entries = context // _rate(spec, kind)
    if kind == "compressed_sparse":
        assert spec.indexer_topk is not None
        entries = min(entries, spec.indexer_topk)
    return window + entries


def compressed_cached(spec: ModelSpec, kind: str, context: int) -> int:
    """Values one layer keeps for `context` tokens: the window's shared key = value heads, every
    compressed entry (head_dim), and CSA's indexer key per entry (indexer_head_dim). The
    compressors' inputs of a window not yet complete (fewer than its rate) are left out."""
    assert spec.local_window is not None
    held = min(context, spec.local_window) * spec.head_dim
    if kind == "window_mqa":
        return held
    entry = spec.head_dim + ((spec.indexer_head_dim or 0) if kind == "compressed_sparse" else 0)
    return held + context // _rate(spec, kind) * entry


# per hyper_connection_form: (the mixing's outputs for n streams, its scales). mHC
# (DeepseekV4HyperConnection): n read gates, n write gates and the n x n residual mixing, a
# scale for each of the three; iHC (HYV4HyperConnection): the read and write gates alone
HYPER_CONNECTION_MIXINGS: dict[str, tuple[Callable[[int], int], int]] = {
    "manifold": (lambda n: (2 + n) * n, 3),
    "independent": (lambda n: 2 * n, 2),
}


def hyper_connection_params(spec: ModelSpec) -> tuple[int, int]:
    """(parameters, matrix weights) of the hyper-connection mixings: per layer two (before the
    attention and before the MLP), each an outputs x n d matrix with a bias per output and the
    form's scales (`HYPER_CONNECTION_MIXINGS`), and the head's n x n d matrix, n biases and a
    scale; none without hyper_connections."""
    n = spec.hyper_connections
    if n is None:
        return 0, 0
    outputs, scales = HYPER_CONNECTION_MIXINGS[spec.hyper_connection_form]
    d, outs = spec.d_model, outputs(n)
    layer_matrices, head_matrix = 2 * outs * n * d, n * n * d
    params = spec.n_layer * (layer_matrices + 2 * (outs + scales)) + head_matrix + n + 1
    return params, spec.n_layer * layer_matrices + head_matrix
