"""Counting whatever has weights: the exact total from the tensor headers of a safetensors
file, a sharded set or a GGUF file (the sum of the products of their shapes), of any
architecture, with no torch and no config.

A tensor's name places it in a component by the first row of `NAME_PATTERNS` that matches it
(Hugging Face, GGUF and zoo's own names); a name no row matches is counted under "other", and
listed, never guessed. Tensors that are not parameters are set apart by name, not counted but
reported with their bytes: buffers some checkpoints store (GPT-2's causal masks, DeepSeek's
routing bias), and the scales of a quantized checkpoint (FP8's `weight_scale_inv`, MXFP4's
`_scales`). A packed tensor is unpacked by a rule of
`PACKED` (MXFP4's `_blocks`: two values per byte), and one zoo has no rule for is refused by
name: its element count is not a parameter count.

When a spec is known too, `check_headers` compares the two totals and names what explains a
difference: a tied head the file stores anyway, layers the file holds beyond the class's
(multi-token-prediction layers), an image-text checkpoint's vision tower.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zoo.accounting.params import ParamCount

HEADER_COMPONENTS = ("token_embedding", "position_embedding", "attention", "mlp", "router",
                     "experts", "shared_experts", "norms", "head", "other")
HEADER_CONVENTION = (
    "the sum over the stored tensors of the product of their shapes (unpacked where a tensor "
    "packs several values per element); buffers and quantization scales are not parameters "
    "and are left out; a head stored beside a tied embedding is counted as stored")

# (component, pattern searched in the tensor's name): the first row that matches wins, so a
# norm inside attention (q_norm) is a norm, an expert's gate is an expert's, and only a gate
# of its own (mlp.gate) is a router; "buffers" are not parameters, and not counted
NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    # ERNIE 4.5's routing bias is a parameter of its class (DeepSeek's, below, a buffer)
    ("router", r"(^|\.)moe_statics\.e_score_correction_bias$"),
    # persistent buffers: causal masks (GPT-2, GPT-J, GPT-Neo), rotary frequencies, position
    # ids, DeepSeek-V3's routing bias (`exp_probs_b` in GGUF), Gemma 4's layer_scalar,
    # xIELU's beta and eps (Apertus)
    ("buffers", r"\.(attn|attention)(\.attention)?\.(masked_)?bias$|\.inv_freq$|"
                r"(^|\.)position_ids$|e_score_correction_bias$|(^|\.)exp_probs_b(\.|$)|"
                r"(^|\.)layer_scalar$|\.act_fn\.(beta|eps)$"),
    # *norm* (input_layernorm, q_norm, final_layer_norm, attn_norm, output_norm), ln_f, ln_1,
    # ln1, ln_attn, pre_ln (RWKV)
    ("norms", r"norm|(^|[._])ln(_[a-z0-9]+|[0-9]*)\.(weight|bias)$"),
    # BioGPT's output_projection
    ("head", r"(^|\.)(lm_head|embed_out|output_projection)\.(weight|bias)$|"
             r"^(head|output)\.(weight|bias)$"),
    ("position_embedding", r"(^|\.)(wpe|embed_positions|position_embeddings|positions|"
                           r"positions_embed|position_embd)\.weight$"),
    # Gemma 4's per-layer input table (embed_tokens_per_layer) is an embedding too
    ("token_embedding", r"(^|\.)(embed_tokens|embed_tokens_per_layer|wte|embed_in|"
                        r"word_embeddings|embeddings|"
                        r"tokens_embed|tok_embeddings|embed|token_embd)\.weight$|"
                        r"^(transformer\.)?w\.weight$"),  # CTRL's
    ("shared_experts", r"(^|\.)(shared_experts?|shared|shared_expert_gate|shared_mlp)(\.|$)|"
                       r"_shexp(\.|$)"),
    ("experts", r"(^|\.)experts(\.|$)|_exps(\.|$)"),
    ("router", r"(^|\.)(gate|router)(\.|$)|(^|\.)ffn_gate_inp(\.|$)"),
    # Mllama's cross_attn and its two gates (cross_attn_attn_gate, cross_attn_mlp_gate); CTRL's
    # multi_head_attention; a state-space mixer's own tensors (Mamba's, Mamba-2's, Bamba's);
    # Nemotron-H's attention mixers
    ("attention", r"(^|\.)(self_attn|self_attention|attention|attn|linear_attn|cross_attn|"
                  r"multi_head_attention)(\.|$)|(^|\.)(cross_)?attn_|"
                  r"(^|\.)(mixer|mamba)\.(in_proj|out_proj|conv1d|x_proj|dt_proj|A_log|D|dt_bias)"
                  r"(\.|$)|(^|\.)mixer\.[qkvo]_proj\."),
    # Nemotron-H's MLP mixers (up_proj, down_proj)
    ("mlp", r"(^|\.)(mlp|feed_forward|ffn|block_sparse_moe|moe|fc1|fc2)(\.|$)|(^|\.)ffn_|"
            r"(^|\.)mixer\.(up|down)_proj\."),
)
_COMPILED = tuple((component, re.compile(pattern)) for component, pattern in NAME_PATTERNS)

# quantization scales and zero points: stored beside quantized weights, not parameters
# (FP8: weight_scale_inv, weight_scale, input_scale; MXFP4: _scales; GPTQ/AWQ: scales, qzeros,
# g_idx; bitsandbytes: absmax, quant_map, quant_state, SCB)
SCALES = re.compile(r"(weight_scale_inv|weight_scale|input_scale|_scales|(^|\.)scales|qzeros|"
                    r"g_idx|absmax|quant_map|quant_state(\.[\w.]+)?|(^|\.)SCB)$")
# packed tensors zoo knows how to count: (name pattern, stored dtype, values per element)
PACKED: tuple[tuple[str, str, int], ...] = (
    (r"_blocks$", "U8", 2),  # MXFP4 (gpt-oss): two 4-bit values per byte
)
_PACKED = tuple((re.compile(pattern), dtype, per) for pattern, dtype, per in PACKED)
# stored dtypes whose elements are not values of a weight (integers pack several, or are ids)
PACKING_DTYPES = {"U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "BOOL"}
# a block's index in a name: model.layers.3., transformer.h.3., blk.3., rwkv.blocks.3.
LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|blk)\.(\d+)\.")
SHOWN_NAMES = 20  # unclassified names listed in full; the rest are counted
# the vision tower and image projector of an image-text checkpoint (Llama 4's vision_model and
# multi_modal_projector, Gemma 3's vision_tower): outside the text decoder a spec describes
VISION = re.compile(r"(^|\.)(vision_model|vision_tower|multi_modal_projector)\.")


class HeadersRefused(ValueError):
    """Tensor headers whose element counts are not parameter counts (packed quantized weights
    zoo has no rule for)."""


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor, as its header gives it: the shape as the model sees it (GGUF's
    block-quantized types too), the stored type, and its bytes (None when unknown)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int | None = None


@dataclass(frozen=True)
class DtypeTotal:
    tensors: int
    params: int
    bytes: int | None  # None when a type's size is not known (GGUF without the gguf package)


@dataclass(frozen=True)
class HeaderCount:
    """The count the headers give: the total, per component, per stored dtype, per block."""

    source: str  # what was read, for people
    total: int
    components: dict[str, int]
    dtypes: dict[str, DtypeTotal]
    tensors: int
    unclassified: tuple[str, ...]  # the names counted under "other", in file order
    layers: dict[int, int] = field(default_factory=dict)  # block index -> parameters
    scales: DtypeTotal | None = None  # quantization scales: stored, not counted
    buffers: DtypeTotal | None = None  # buffers (causal masks, routing biases): not counted
    names: dict[str, int] = field(default_factory=dict)  # tensor -> parameters

    @property
    def bytes(self) -> int | None:
        """What the tensors occupy as stored, scales and buffers included (None if a size is
        unknown)."""
        parts = [*self.dtypes.values(), *(p for p in (self.scales, self.buffers) if p)]
        if any(part.bytes is None for part in parts):
            return None
        return sum(part.bytes or 0 for part in parts)

    @property
    def root(self) -> int:
        """The parameters outside the numbered blocks (embeddings, final norm, head)."""
        return self.total - sum(self.layers.values())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "convention": HEADER_CONVENTION, "total": self.total,
                "tensors": self.tensors, "components": self.components,
                "dtypes": {name: {"tensors": d.tensors, "params": d.params, "bytes": d.bytes}
                           for name, d in self.dtypes.items()},
                "bytes": self.bytes,
                **{key: None if part is None else {
                    "tensors": part.tensors, "elements": part.params, "bytes": part.bytes}
                   for key, part in (("quantization_scales", self.scales),
                                     ("buffers", self.buffers))},
                "unclassified": {"count": len(self.unclassified),
                                 "params": self.components["other"],
                                 "names": list(self.unclassified[:SHOWN_NAMES])},
                "layers": len(self.layers)}


def classify(name: str) -> str:
    """The component a tensor's name places it in; "other" when no row of NAME_PATTERNS
    matches."""
    return next((component for component, pattern in _COMPILED if pattern.search(name)),
                "other")


def layer_of(name: str) -> int | None:
    """The block a tensor belongs to, by the index in its name; None outside the blocks."""
    match = LAYER_INDEX.search(name)
    return int(match.group(1)) if match else None


def parameters(tensor: TensorInfo) -> int:
    """The values a stored tensor holds: its elements, times the values a packed element holds
    (a PACKED rule); a HeadersRefused for an integer tensor no rule unpacks."""
    elements = math.prod(tensor.shape)
    for pattern, dtype, per in _PACKED:
        if pattern.search(tensor.name) and tensor.dtype == dtype:
            return elements * per
    if tensor.dtype.upper() in PACKING_DTYPES:
        raise HeadersRefused(
            f"tensor {tensor.name!r} is stored as {tensor.dtype}, shape {list(tensor.shape)}: "
            f"packed quantized weights (or integer data), whose element count is not a "
            f"parameter count; zoo unpacks only " + ", ".join(
                f"{dtype} tensors named *{pattern.strip('$')}" for pattern, dtype, _ in PACKED)
            + " (MXFP4)")
    return elements


def count_headers(tensors: Iterable[TensorInfo], source: str) -> HeaderCount:
    """The exact count of stored tensors (see the module's docstring)."""
    components = dict.fromkeys(HEADER_COMPONENTS, 0)
    dtypes: dict[str, list[Any]] = {}
    scales: list[Any] = [0, 0, 0]
    buffers: list[Any] = [0, 0, 0]
    layers: dict[int, int] = {}
    names: dict[str, int] = {}
    unclassified = []
    for tensor in tensors:
        if SCALES.search(tensor.name):
            _add(scales, math.prod(tensor.shape), tensor.nbytes)
            continue
        component = classify(tensor.name)
        if component == "buffers":
            _add(buffers, math.prod(tensor.shape), tensor.nbytes)
            continue
        n = parameters(tensor)
        components[component] += n
        if component == "other":
            unclassified.append(tensor.name)
        _add(dtypes.setdefault(tensor.dtype, [0, 0, 0]), n, tensor.nbytes)
        index = layer_of(tensor.name)
        if index is not None:
            layers[index] = layers.get(index, 0) + n
        names[tensor.name] = n
    if components["shared_experts"] and not components["experts"]:
        # a "shared" MLP beside no experts is the layer's MLP (Granite 4's dense hybrids)
        components["mlp"] += components["shared_experts"]
        components["shared_experts"] = 0
    return HeaderCount(
        source=source, total=sum(components.values()), components=components,
        dtypes={name: DtypeTotal(*d) for name, d in sorted(dtypes.items())},
        tensors=len(names), unclassified=tuple(unclassified), layers=dict(sorted(layers.items())),
        scales=DtypeTotal(*scales) if scales[0] else None,
        buffers=DtypeTotal(*buffers) if buffers[0] else None, names=names)


def _add(totals: list[Any], n: int, nbytes: int | None) -> None:
    totals[0] += 1
    totals[1] += n
    totals[2] = None if nbytes is None or totals[2] is None else totals[2] + nbytes


@dataclass(frozen=True)
class HeaderCheck:
    """The headers' total against a spec's closed form, and what explains a difference."""

    headers: int
    closed_form: int
    reasons: tuple[str, ...]  # each with the parameters it accounts for
    unexplained: int  # what the reasons leave over

    @property
    def difference(self) -> int:
        """The headers' total minus the closed form."""
        return self.headers - self.closed_form

    @property
    def agrees(self) -> bool:
        return self.difference == 0

    def warning(self, closed_form: str = "the closed form") -> str | None:
        """None when the totals agree; else one sentence naming both figures and why."""
        if self.agrees:
            return None
        why = list(self.reasons)
        if self.unexplained:
            why.append(f"{self.unexplained:+,} that zoo cannot explain")
        return (f"the tensor headers count {self.headers:,} parameters, {closed_form} "
                f"{self.closed_form:,} ({self.difference:+,}): " + "; ".join(why))

    def to_dict(self) -> dict[str, Any]:
        return {"headers": self.headers, "closed_form": self.closed_form,
                "difference": self.difference, "agrees": self.agrees,
                "reasons": list(self.reasons), "unexplained": self.unexplained,
                "warning": self.warning()}


def check_headers(headers: HeaderCount, count: ParamCount) -> HeaderCheck:
    """Compare the headers with the closed form of the spec that names their architecture.

    Explained, each by name and size: blocks numbered n_layer or more
    (layers the checkpoint holds and the class does not build: DeepSeek-V3's and GLM-4.5's
    multi-token-prediction layers); a head stored although the spec ties it (transformers
    saves a tied head once, but many published files hold lm_head as well); the vision tower
    and image projector of an image-text checkpoint, whose spec is its text decoder (Llama 4,
    Gemma 3)."""
    reasons = []
    left = headers.total - count.total
    n_layer = count.spec.n_layer
    vision = {name: n for name, n in headers.names.items() if VISION.search(name)}
    if vision:
        size = sum(vision.values())
        reasons.append(f"{size:,} in the vision tower and image projector ({len(vision)} "
                       f"tensors), which the spec of the text decoder leaves out")
        left -= size
    extra: dict[int, int] = {}
    for name, n in headers.names.items():
        index = layer_of(name)
        if index is not None and index >= n_layer and name not in vision:
            extra[index] = extra.get(index, 0) + n
    if extra:
        size = sum(extra.values())
        at = ", ".join(map(str, sorted(extra)))
        reasons.append(f"{size:,} in layer{'s' if len(extra) > 1 else ''} {at} (the spec has "
                       f"{n_layer}: layers 0-{n_layer - 1}), which the checkpoint holds and the "
                       f"class does not build (multi-token-prediction layers)")
        left -= size
    stored_head = sum(n for name, n in headers.names.items()
                      if classify(name) == "head" and layer_of(name) is None)
    if count.tied_head and stored_head and stored_head == count.head_if_untied:
        reasons.append(f"{stored_head:,} in a head the file stores although the config ties it "
                       f"to the token embedding (counted once by the closed form)")
        left -= stored_head
    return HeaderCheck(headers.total, count.total, tuple(reasons), left)
