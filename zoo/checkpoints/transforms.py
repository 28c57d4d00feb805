"""The named transforms that architecture entries put between checkpoint tensors and zoo's.

Each is exact (transposes, concatenations, regroupings: no arithmetic), so HF -> zoo -> HF is
bit-exact. zoo keeps q, k and v in one matrix (all q heads, then all k heads, then all v
heads) and a gated MLP's gate and up projections in one [gate; up] matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from zoo.spec import ModelSpec


@dataclass(frozen=True)
class Transform:
    to_zoo: Callable[[list[Tensor], ModelSpec], Tensor]
    to_hf: Callable[[Tensor, ModelSpec], list[Tensor]]
    direct: bool = False  # the tensor is used as stored: it can stay a view of a memory map
    row_wise: bool = False  # it moves whole rows (so it moves per-row data, as block scales)


def _concat(sizes: Callable[[ModelSpec], list[int]]) -> Transform:
    return Transform(lambda parts, spec: torch.cat(parts, 0),
                     lambda t, spec: [p.contiguous() for p in t.split(sizes(spec), 0)],
                     row_wise=True)


def _grouped_to_zoo(parts: list[Tensor], spec: ModelSpec) -> Tensor:
    t = parts[0]
    per, rest = spec.n_head // spec.kv_heads, t.shape[1:]
    g = t.reshape(spec.kv_heads, per + 2, spec.head_dim, *rest)
    return torch.cat([g[:, :per].reshape(-1, *rest), g[:, per].reshape(-1, *rest),
                      g[:, per + 1].reshape(-1, *rest)], 0)


def _grouped_to_hf(t: Tensor, spec: ModelSpec) -> list[Tensor]:
    per, rest, kv, d = spec.n_head // spec.kv_heads, t.shape[1:], spec.kv_heads, spec.head_dim
    q, k, v = t.split([spec.q_dim, spec.kv_dim, spec.kv_dim], 0)
    g = torch.cat([q.reshape(kv, per, d, *rest), k.reshape(kv, 1, d, *rest),
                   v.reshape(kv, 1, d, *rest)], 1)
    return [g.reshape(t.shape).contiguous()]


MP_GROUPS = 4  # CodeGen's mp_num: the model-parallel shards its fused qkv_proj was saved in


def _mp_qvk_to_zoo(parts: list[Tensor], spec: ModelSpec) -> Tensor:
    """CodeGen's qkv_proj: rows in MP_GROUPS groups, each [q; v; k] of d_model / MP_GROUPS
    rows (each a slice of every head's q, v or k) -> zoo's [q; k; v]."""
    t, rest = parts[0], parts[0].shape[1:]
    q, v, k = t.reshape(MP_GROUPS, 3, -1, *rest).unbind(1)
    return torch.cat([p.reshape(-1, *rest) for p in (q, k, v)], 0)


def _mp_qvk_to_hf(t: Tensor, spec: ModelSpec) -> list[Tensor]:
    rest = t.shape[1:]
    q, k, v = (p.reshape(MP_GROUPS, -1, *rest) for p in t.chunk(3, 0))
    return [torch.stack([q, v, k], 1).reshape(t.shape).contiguous()]


def _pairs_to_zoo(parts: list[Tensor], spec: ModelSpec) -> Tensor:
    """Per-expert gate and up matrices (expert-major: g0, u0, g1, u1, ...) -> (experts,
    [gate; up], d_model)."""
    return torch.stack([torch.cat(parts[i:i + 2], 0) for i in range(0, len(parts), 2)])


def _pairs_to_hf(t: Tensor, spec: ModelSpec) -> list[Tensor]:
    return [half.contiguous() for expert in t for half in expert.chunk(2, 0)]


def _interleaved_to_zoo(parts: list[Tensor], spec: ModelSpec) -> Tensor:
    """gpt-oss's fused experts: (experts, d_model, 2 x hidden) with gate and up columns
    interleaved (bias: (experts, 2 x hidden)) -> zoo's (experts, [gate; up], d_model)."""
    t = parts[0].transpose(1, 2) if parts[0].dim() == 3 else parts[0]
    return torch.cat([t[:, 0::2], t[:, 1::2]], 1).contiguous()


def _interleaved_to_hf(t: Tensor, spec: ModelSpec) -> list[Tensor]:
    gate, up = t.chunk(2, 1)
    mixed = torch.stack([gate, up], 2).flatten(1, 2)
    return [(mixed.transpose(1, 2) if t.dim() == 3 else mixed).contiguous()]


def _qkvz_ba_to_zoo(parts: list[Tensor], spec: ModelSpec) -> Tensor:
    """Qwen3-Next's DeltaNet input projections, grouped per key head: in_proj_qkvz holds, for
    each key head, [q_h; k_h; v_h; z_h] (v and z of its value heads), in_proj_ba [b_h; a_h] ->
    zoo's [q; k; v; z; b; a], each part in head order."""
    qkvz, ba = parts
    groups, rest = spec.linear_n_k_head, qkvz.shape[1:]
    dk, per_v = spec.linear_d_head_k, spec.linear_v_dim // groups
    q, k, v, z = qkvz.reshape(groups, -1, *rest).split([dk, dk, per_v, per_v], 1)
    b, a = ba.reshape(groups, 2, -1, *rest).unbind(1)
    return torch.cat([t.reshape(-1, *rest) for t in (q, k, v, z, b, a)], 0)


def _qkvz_ba_to_hf(t: Tensor, spec: ModelSpec) -> list[Tensor]:
    groups, rest = spec.linear_n_k_head, t.shape[1:]
    k_dim, v_dim, heads = spec.linear_k_dim, spec.linear_v_dim, spec.linear_n_v_head
    q, k, v, z, b, a = (p.reshape(groups, -1, *rest) for p in t.split(
        [k_dim, k_dim, v_dim, v_dim, heads, heads], 0))
    return [torch.cat([q, k, v, z], 1).reshape(-1, *rest).contiguous(),
            torch.cat([b, a], 1).reshape(-1, *rest).contiguous()]


def _gated_q(spec: ModelSpec) -> int:
    """Rows of the query projection: with an output gate, each head's query and gate."""
    return spec.q_dim * (2 if spec.attention_output_gate else 1)


TRANSFORMS: dict[str, Transform] = {
    "same": Transform(lambda parts, spec: parts[0], lambda t, spec: [t], direct=True,
                      row_wise=True),
    # GPT-1/GPT-2's Conv1D stores [in, out]; nn.Linear stores [out, in]
    "transpose": Transform(lambda parts, spec: parts[0].t().contiguous(),
                           lambda t, spec: [t.t().contiguous()]),
    # separate q, k, v projections
    "qkv": _concat(lambda spec: [_gated_q(spec), spec.kv_dim, spec.kv_dim]),
    # Qwen3.5's DeltaNet input projections, split: [q; k; v], z, b, a
    "deltanet_split": _concat(lambda spec: [spec.linear_conv_dim, spec.linear_v_dim,
                                            spec.linear_n_v_head, spec.linear_n_v_head]),
    # Qwen3-Next's, fused per key head (see _qkvz_ba_to_zoo)
    "qkvz_ba": Transform(_qkvz_ba_to_zoo, _qkvz_ba_to_hf, row_wise=True),
    # separate gate and up projections (of the MLP, or of shared experts: equal halves)
    "gate_up": Transform(lambda parts, spec: torch.cat(parts, 0),
                         lambda t, spec: [p.contiguous() for p in t.chunk(2, 0)], row_wise=True),
    # q, k, v fused per kv group: [g0 q x (heads / kv heads), g0 k, g0 v, g1 q, ...]; with as
    # many groups as heads this is GPT-NeoX's and BLOOM's per-head fusion, with one group
    # Falcon's multi-query layout
    "qkv_grouped": Transform(_grouped_to_zoo, _grouped_to_hf, row_wise=True),
    # CodeGen's q, v, k fused in model-parallel groups (see _mp_qvk_to_zoo)
    "mp_qvk": Transform(_mp_qvk_to_zoo, _mp_qvk_to_hf, row_wise=True),
    # one gate and one up matrix per expert -> the stacked [gate; up] of every expert
    "experts_gate_up": Transform(_pairs_to_zoo, _pairs_to_hf),
    # one matrix per expert -> stacked
    "experts_stack": Transform(lambda parts, spec: torch.stack(parts),
                               lambda t, spec: [m.contiguous() for m in t]),
    # a vector stored as one row (ERNIE 4.5's routing bias, (1, experts))
    "row": Transform(lambda parts, spec: parts[0].reshape(-1),
                     lambda t, spec: [t.reshape(1, -1).contiguous()]),
    # gpt-oss: fused experts stored input-major, gate and up interleaved
    "experts_interleaved": Transform(_interleaved_to_zoo, _interleaved_to_hf),
    # gpt-oss: fused down projections stored input-major (biases as stored)
    "experts_transpose": Transform(
        lambda parts, spec: parts[0].transpose(1, 2).contiguous() if parts[0].dim() == 3
        else parts[0], lambda t, spec: [t.transpose(1, 2).contiguous() if t.dim() == 3 else t]),
}
