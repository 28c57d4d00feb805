"""Filling a model built on the meta device: every format's tensors, produced on demand, checked
by name, shape and dtype, and assigned (views of memory maps where stored as used), so memory
stays near the size of the weights. `fill` takes tensors under zoo's names (zoo's own files);
`fill_from` maps a checkpoint's tensors through its architecture's rules first (Hugging Face
folders, GGUF files).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from zoo.checkpoints.mapping import Rules, TensorSource, plan
from zoo.errors import advised
from zoo.files import WeightsError
from zoo.files.progress import progress_bar
from zoo.model import Model, ModelTooLargeError, check_fits, resolve_dtype

if TYPE_CHECKING:
    from zoo.model.quantize import Packing


@dataclass
class LoadReport:
    """What a non-strict load found wrong; empty when everything matched."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        lines = []
        if self.missing:
            lines.append(f"missing ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            lines.append(f"unexpected ({len(self.unexpected)}): {', '.join(self.unexpected)}")
        for name, expected, found in self.mismatched:
            lines.append(f"mis-shaped: {name}: expected {list(expected)}, found {list(found)}")
        return "\n  ".join(lines)


STRICT_ADVICE = "\n(pass strict=False to load what matches)"


def fill_from(model: Model, mapping: Rules, source: TensorSource, *, origin: Path,
              device: str | torch.device | None, dtype: str | torch.dtype | None, strict: bool,
              progress: bool | None, tokenizer: Any = None,
              packing: Packing | None = None) -> Model:
    """A meta-built model filled from a checkpoint through its architecture's rules; every
    missing, unexpected or mis-shaped checkpoint tensor is listed (an error when `strict`).
    With `packing`, each linear layer is packed as soon as it is filled (see `fill`)."""
    expected = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    producers, problems = plan(mapping, source, expected)
    spec = model.spec
    if problems and strict:
        raise advised(WeightsError, f"{origin} does not match {spec.name}:\n  "
                      + "\n  ".join(problems), python=STRICT_ADVICE, cli=None)
    if problems:
        warnings.warn(f"{origin}: " + "; ".join(problems), stacklevel=3)
    model = fill(model, producers, shapes={n: expected[n] for n in producers}, device=device,
                 dtype=dtype, strict=strict, origin=str(origin), progress=progress,
                 packing=packing)
    model.tokenizer = tokenizer
    return model


def fill(model: Model, tensors: dict[str, Callable[[], Tensor]], *,
         shapes: dict[str, tuple[int, ...]], device: str | torch.device | None,
         dtype: str | torch.dtype | None, strict: bool, origin: str,
         ignore_memory_limit: bool = False, progress: bool | None = None,
         dtypes: dict[str, torch.dtype] | None = None,
         packing: Packing | None = None) -> Model:
    """Assign tensors (produced on demand) to a meta-built model, checking names, shapes and
    dtypes (`dtypes`, the stored ones where the source knows them without reading).

    With `packing` (zoo.model.quantize.Packing, on the CPU) each tensor is assigned as it is
    read and each linear layer packed as soon as its weights are in, so that only one layer's
    float weights (and the embedding) are in memory at a time; the packing is finished here.

    A mismatch is listed by name with expected and found shapes: an error when `strict`, a
    warning and `model.load_report` otherwise (missing tensors then get the usual init). On
    the meta device nothing is read. Elsewhere the weights must fit in the device's free memory
    (memory-mapped ones too: a model larger than memory would be read from disk at every step),
    unless `ignore_memory_limit`.
    """
    target = torch.device(device if device is not None else "cpu")
    current = model.state_dict()
    expected = {name: tuple(t.shape) for name, t in current.items()}
    tied = {"head.weight"} if model.spec.tie_embeddings else set()
    report = LoadReport(
        missing=[n for n in expected if n not in tensors and n not in tied],
        unexpected=[n for n in tensors if n not in expected],
        mismatched=[(n, expected[n], tuple(shapes[n])) for n in tensors
                    if n in expected and tuple(shapes[n]) != expected[n]])
    if report and strict:
        raise advised(WeightsError, f"{origin} does not match {model.spec.name}:\n  "
                      f"{report.describe()}", python=STRICT_ADVICE, cli=None)
    mismatched = {name for name, _, _ in report.mismatched}
    wanted = [n for n in tensors if n in expected and n not in mismatched]
    convert_to = resolve_dtype(dtype) if dtype is not None else None
    dtypes = dtypes or {}
    stored = {n: dtypes.get(n, current[n].dtype) for n in wanted}
    sizes = {n: math.prod(shapes[n]) * (convert_to or stored[n]).itemsize for n in wanted}
    nbytes = packing.peak(sizes) if packing is not None else sum(sizes.values())
    if not ignore_memory_limit and target.type != "meta":
        shown = convert_to or (stored[wanted[0]] if wanted else torch.float32)
        try:
            check_fits(model.spec, nbytes, target, shown)
        except ModelTooLargeError as err:
            raise ModelTooLargeError(f"{origin}: {err}") from None
    state = {}
    first: dict[str, torch.dtype] = {}
    for name in progress_bar(wanted, progress, "loading", nbytes=nbytes, total=len(wanted)):
        if target.type == "meta":
            tensor = torch.empty(shapes[name], dtype=stored[name], device="meta")
        else:
            tensor = tensors[name]()
        _check_dtype(origin, name, tensor.dtype, first, convert_to)
        if convert_to is not None:
            tensor = tensor.to(convert_to)
        state[name] = tensor.to(target) if tensor.device != target else tensor
        if packing is not None:  # in now, and its layer packed once complete
            model.load_state_dict(state, strict=False, assign=True)
            if name == "embed.weight":
                model.tie_weights()
            state.clear()
            del tensor
            packing.filled(name)
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    if report.missing or report.mismatched:
        _materialize(model, target, convert_to)
    if packing is not None:
        packing.finish()
    if report:
        warnings.warn(f"{origin} loaded into {model.spec.name} non-strictly:\n  "
                      f"{report.describe()}", stacklevel=3)
    model.load_report = report
    return model.eval()


COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def _check_dtype(origin: str, name: str, dtype: torch.dtype, first: dict[str, torch.dtype],
                 convert_to: torch.dtype | None) -> None:
    """Weights are floating point, and, unless converted on load (`dtype=`), all of one dtype a
    model computes in: a tensor stored otherwise would load, and fail in the forward pass."""
    if not dtype.is_floating_point:
        raise WeightsError(f"{origin}: tensor {name} is stored as {str(dtype)[6:]}; weights are "
                           f"floating point (float32, bfloat16, float16)")
    if convert_to is not None:
        return
    if dtype not in COMPUTE_DTYPES:
        raise advised(WeightsError, f"{origin}: tensor {name} is stored as {str(dtype)[6:]}, "
                                    f"which a model does not compute in",
                      python="; pass dtype='bf16' (or fp16, fp32) to convert on load",
                      cli="; give --dtype bf16 (or fp16, fp32) to convert on load")
    if not first:
        first[name] = dtype
    (other, other_dtype), = first.items()
    if dtype != other_dtype:
        raise WeightsError(f"{origin}: tensor {name} is stored as {str(dtype)[6:]} but {other} "
                           f"as {str(other_dtype)[6:]}; a model computes in one dtype: pass "
                           f"dtype='fp32' (or bf16, fp16) to convert on load")


def _materialize(model: Model, device: torch.device, dtype: torch.dtype | None) -> None:
    """Give parameters still on meta (not in the checkpoint) real memory and the usual init."""
    fresh = set()
    for module_name, module in model.named_modules():
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_meta:
                tensor = torch.empty(param.shape, device=device, dtype=dtype or param.dtype)
                module._parameters[name] = torch.nn.Parameter(tensor, param.requires_grad)
                fresh.add(f"{module_name}.{name}" if module_name else name)
    model.tie_weights()
    model.init_weights(only=fresh)
