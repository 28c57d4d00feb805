"""`zoo plan`: memory per device under FSDP sharding, from the accounting alone (no torch).

FSDP shards every parameter, gradient and optimizer state over the N devices; what it does not
shard is the transient all-gathered copy of the block being computed (and the next one, which
it prefetches), the root's parameters (embeddings, final norm, head: gathered for the whole
forward), and each device's own activations and KV cache. Training assumes FSDP2 mixed
precision: fp32 sharded parameters, gradients and Adam moments, blocks gathered in the compute
dtype; activations with full activation checkpointing (Korthikanti et al. 2022).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zoo.accounting.headers import HeaderCount
from zoo.accounting.params import (
    caveated,
    caveats,
    count_params,
    kv_cache_width,
    recurrent_state_width,
)
from zoo.spec import ModelSpec
from zoo.units import DTYPE_BYTES, FLOAT_DTYPES, canonical_dtype, human_bytes

MAX_DEVICES = 4096


@dataclass(frozen=True)
class Plan:
    spec: ModelSpec
    devices: int
    device_memory: int
    train: bool
    dtype: str
    batch: int
    context: int
    parts: dict[str, int] = field(default_factory=dict)  # bytes per device

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.total <= self.device_memory

    @property
    def smallest_fit(self) -> int | None:
        """The fewest devices on which this fits (the total falls as devices are added), or
        None when even the unsharded part of one device's work exceeds its memory."""
        def fits(devices: int) -> bool:
            return make_plan(self.spec, devices=devices, device_memory=self.device_memory,
                             train=self.train, dtype=self.dtype, batch=self.batch,
                             context=self.context).fits

        if not fits(MAX_DEVICES):
            return None
        low, high = 1, MAX_DEVICES
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle + 1, high)
        return low

    def redo(self, spec: ModelSpec) -> Plan:
        """The same plan for another spec (an assumption's alternative)."""
        return make_plan(spec, devices=self.devices, device_memory=self.device_memory,
                         train=self.train, dtype=self.dtype, batch=self.batch,
                         context=self.context)

    def to_dict(self) -> dict[str, Any]:
        """The plan, with the figures that rest on an assumed value under `caveats`."""
        return {**self._figures(), "caveats": caveats(
            self.spec, lambda spec: self.redo(spec)._figures())}

    def _figures(self) -> dict[str, Any]:
        return {"model": self.spec.name, "mode": "train" if self.train else "infer",
                "devices": self.devices, "device_memory": self.device_memory,
                "dtype": self.dtype, "batch_per_device": self.batch, "context": self.context,
                "per_device": self.parts, "total_per_device": self.total, "fits": self.fits,
                "smallest_fit": self.smallest_fit}


def _sharded_share(whole: int, devices: int) -> int:
    return math.ceil(whole / devices)


def make_plan(spec: ModelSpec, *, devices: int, device_memory: int,
              train: bool = False, dtype: str = "bf16", batch: int = 1,
              context: int | None = None) -> Plan:
    """Bytes per device for inference (weights, KV cache) or training (mixed-precision Adam)."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    if device_memory < 1:
        raise ValueError(f"device memory must be positive (bytes per device, e.g. 80GB), got "
                         f"{device_memory}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    dtype = canonical_dtype(dtype, FLOAT_DTYPES)
    context = spec.context_length if context is None else context
    if not 1 <= context <= spec.context_length:
        raise ValueError(f"context must be within 1..{spec.context_length}, got {context}")
    parts = plan_parts(plan_inputs(spec), devices=devices, train=train, dtype=dtype,
                       batch=batch, context=context)
    return Plan(spec, devices, device_memory, train, dtype, batch, context, parts)


def plan_inputs(spec: ModelSpec) -> dict[str, Any]:
    """Everything `plan_parts` needs of a model, as plain numbers: the closed form's figures
    (total, the largest block, the root), the KV cache as groups of layers that cache alike
    (how many, their width in values per token, the window or chunk that caps them), the
    recurrent state and the shapes the activations follow. `zoo site` writes these into each
    model page, whose planner is `plan_parts` ported to JavaScript: one formula, two
    languages, compared by the browser tests."""
    count = count_params(spec)
    block = max(layer.total for layer in count.layers)
    groups: dict[tuple[int | None, int], int] = {}
    for kind, shared, cached, reused in zip(spec.layer_kinds, spec.layer_kv_shared,
                                            spec.layer_cached_runs, spec.layer_indexer_shared,
                                            strict=True):
        if shared or recurrent_state_width(spec, kind) or kind == "cross":  # no keys of its
            continue  # own: a recurrent state, shared, or the image's (cross-attention)
        cap = spec.local_window if kind == "local" else (
            spec.attention_chunk if kind == "chunked" else None)
        key = (cap, kv_cache_width(spec, kind, reused))
        groups[key] = groups.get(key, 0) + cached  # a looped layer: keys per run (Dory, HRM)
    if spec.shared_invocations:  # each invocation of a shared block caches its own keys
        key = (None, kv_cache_width(spec, "global"))
        groups[key] = groups.get(key, 0) + spec.shared_invocations
    return {"total": count.total, "block": block,
            "root": count.total - sum(layer.total for layer in count.layers),
            "context_length": spec.context_length, "vocab_size": spec.vocab_size,
            "n_layer": spec.n_layer, "d_model": spec.d_model, "n_head": spec.n_head,
            "kv_groups": [{"layers": n, "width": width, "cap": cap}
                          for (cap, width), n in groups.items()],
            # values all recurrent layers keep per sequence (linear attention, state space)
            "recurrent": {"width": sum(recurrent_state_width(spec, kind)
                                       for kind in spec.layer_kinds)}
            if spec.has_recurrent else None}


def plan_parts(inputs: dict[str, Any], *, devices: int, train: bool, dtype: str, batch: int,
               context: int) -> dict[str, int]:
    """Bytes per device by part, from `plan_inputs` and checked settings. Every figure is an
    integer below 2**53 computed in the order JavaScript computes it (zoo/site/static/site.js
    ports this function line by line), so the page and `zoo plan` agree to the byte."""
    width = DTYPE_BYTES[dtype]
    total, block = inputs["total"], inputs["block"]
    gathered = int((2 * block + inputs["root"]) * width)  # one block computing, the next prefetched
    if train:
        return {"parameters fp32 (sharded)": _sharded_share(4 * total, devices),
                "gradients fp32 (sharded)": _sharded_share(4 * total, devices),
                "Adam moments fp32 (sharded)": _sharded_share(8 * total, devices),
                f"gathered blocks and root {dtype}": gathered,
                f"gathered block gradients {dtype}": int(block * width),
                "activations (checkpointed)": _activations(inputs, batch, context),
                "logits fp32 and their gradient": 2 * 4 * batch * context * inputs["vocab_size"]}
    held = sum(group["layers"] * (context if group["cap"] is None else
                                  min(context, group["cap"])) * group["width"]
               for group in inputs["kv_groups"])
    parts = {f"weights {dtype} (sharded)": _sharded_share(int(total * width), devices),
             f"gathered blocks and root {dtype}": gathered,
             f"KV cache {dtype}": int(batch * held * width)}
    recurrent = inputs["recurrent"]
    if recurrent is not None:  # constant in context, beside the full layers' growing cache
        parts[f"recurrent state {dtype}"] = int(batch * recurrent["width"] * width)
    return parts


def _activations(inputs: dict[str, Any], batch: int, context: int) -> int:
    """`activation_bytes` from plan inputs."""
    s, b, h, a = context, batch, inputs["d_model"], inputs["n_head"]
    kept = inputs["n_layer"] * s * b * h * 2
    one_layer = int(s * b * h * (34 + 5 * a * s / h))
    return kept + one_layer


def activation_bytes(spec: ModelSpec, batch: int, context: int) -> int:
    """16-bit activations with full activation checkpointing: every layer's input kept
    (s*b*h*2 bytes), and one layer recomputed at a time, s*b*h*(34 + 5*a*s/h) bytes
    (Korthikanti et al. 2022, 'Reducing Activation Recomputation in Large Transformer
    Models', Section 4)."""
    return _activations({"d_model": spec.d_model, "n_head": spec.n_head,
                         "n_layer": spec.n_layer}, batch, context)


def describe(plan: Plan) -> list[tuple[str, str]]:
    """(what, how much) rows; a figure that rests on an assumed value says so beside it."""
    def shown(figure: Callable[[Plan], Any], fmt: Callable[[Any], str]) -> str:
        return caveated(plan.spec, lambda spec: figure(plan.redo(spec)), fmt)

    def part(name: str) -> Callable[[Plan], int]:
        return lambda p: p.parts[name]

    rows = [(name, shown(part(name), human_bytes)) for name in plan.parts]
    rows.append(("total per device", shown(lambda p: p.total, human_bytes)))
    rows.append((f"{plan.devices} x {human_bytes(plan.device_memory)}",
                 shown(lambda p: p.fits, lambda fits: "fits" if fits else "does NOT fit")))
    rows.append(("smallest device count that fits", shown(
        lambda p: p.smallest_fit, lambda n: str(n) if n is not None else
        "none: the unsharded part alone exceeds a device (lower the batch/context)")))
    return rows


@dataclass(frozen=True)
class HeadersPlan:
    """What can be planned from tensor headers alone (an architecture zoo does not know): the
    weights and the training state, which follow from the count; what needs the architecture
    (KV cache or recurrent state, activations, logits) is named under `unknown`, not guessed.
    The blocks FSDP gathers are the tensors numbered by layer in their names."""

    name: str
    devices: int
    device_memory: int
    train: bool
    dtype: str
    batch: int
    parts: dict[str, int]
    unknown: dict[str, str]  # part -> why it is not computed

    @property
    def total(self) -> int:
        """The known parts: a lower bound of what a device holds."""
        return sum(self.parts.values())

    @property
    def fits(self) -> bool | None:
        """False when the known parts alone exceed a device; None (unknown) otherwise."""
        return False if self.total > self.device_memory else None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.name, "mode": "train" if self.train else "infer",
                "devices": self.devices, "device_memory": self.device_memory,
                "dtype": self.dtype, "batch_per_device": self.batch, "context": None,
                "per_device": self.parts, "total_per_device_at_least": self.total,
                "fits": self.fits, "not_computed": self.unknown}


def plan_from_headers(headers: HeaderCount, name: str, why: str, *, devices: int,
                      device_memory: int, train: bool = False, dtype: str = "bf16",
                      batch: int = 1) -> HeadersPlan:
    """`make_plan`'s weights and training state from a headers count; `why` says why the
    architecture is unknown (it is named in each refused part)."""
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices}")
    if device_memory < 1:
        raise ValueError(f"device memory must be positive (bytes per device, e.g. 80GB), got "
                         f"{device_memory}")
    dtype = canonical_dtype(dtype, FLOAT_DTYPES)
    width = DTYPE_BYTES[dtype]
    total = headers.total
    block = max(headers.layers.values(), default=0)
    gathered = int((2 * block + headers.root) * width)
    unknown_state = f"not computed: {why}, so the memory its layers keep per sequence is unknown"
    if train:
        parts = {"parameters fp32 (sharded)": _sharded_share(4 * total, devices),
                 "gradients fp32 (sharded)": _sharded_share(4 * total, devices),
                 "Adam moments fp32 (sharded)": _sharded_share(8 * total, devices),
                 f"gathered blocks and root {dtype}": gathered,
                 f"gathered block gradients {dtype}": int(block * width)}
        unknown = {"activations": unknown_state.replace("per sequence", "per token"),
                   "logits and their gradient": f"not computed: {why}"}
    else:
        parts = {f"weights {dtype} (sharded)": _sharded_share(int(total * width), devices),
                 f"gathered blocks and root {dtype}": gathered}
        unknown = {"KV cache (or recurrent state)": unknown_state}
    return HeadersPlan(name, devices, device_memory, train, dtype, batch, parts, unknown)


def describe_headers_plan(plan: HeadersPlan) -> list[tuple[str, str]]:
    rows = [(name, human_bytes(value)) for name, value in plan.parts.items()]
    rows += list(plan.unknown.items())
    rows.append(("total per device", f"at least {human_bytes(plan.total)} (the parts above "
                                     f"that are computed)"))
    verdict = ("does NOT fit: the computed parts alone exceed a device" if plan.fits is False
               else "unknown: the computed parts fit, the parts not computed may not")
    rows.append((f"{plan.devices} x {human_bytes(plan.device_memory)}", verdict))
    return rows
