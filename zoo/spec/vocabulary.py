"""The words a spec is written in: its error, the field declarations' roles, the closed sets
of values (positions, norms, activations ...) and the small nested records (a reported figure,
where the weights live, rotary scaling)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any

from zoo.fields import setting


class SpecError(ValueError):
    """A spec that cannot be loaded, with where (file, model, field) and what was expected."""

    def __init__(self, message: str, *, file: str | None = None, model: str | None = None,
                 field: str | None = None, line: int | None = None) -> None:
        self.file, self.model, self.field, self.line = file, model, field, line
        where = []
        if file:
            where.append(f"{file}:{line}" if line else file)
        if model:
            where.append(f"model {model!r}")
        if field:
            where.append(f"field {field!r}")
        self.reason = message
        super().__init__(": ".join([*where, message]))

    def located(self, *, file: str | None = None, model: str | None = None) -> SpecError:
        """The same error with the file (and model) filled in by a caller that knows them."""
        return SpecError(self.reason, file=self.file or file, model=self.model or model,
                         field=self.field, line=self.line)


ROLES = ("identity", "architecture", "provenance")


def _f(kind: str, default: Any = MISSING, *, role: str, doc: str = "",
       resolve: Callable[[Any], Any] | None = None, family_level: bool = False,
       accumulate: bool = False, **checks: Any) -> Any:
    """A spec field (`zoo.fields.setting`) and what it is: `role` says whether it shapes the
    computation ("architecture") or records where the model comes from ("provenance");
    `resolve` gives the value the computation uses when it is not the field itself (n_kv_head
    -> kv_heads), None where the field does not apply (a rotary base without rotary
    positions); `family_level` fields may stand at the top of a family file, and `accumulate`
    lists add up from defaults to model instead of overriding."""
    assert role in ROLES
    return setting(kind, default, doc=doc, role=role, resolve=resolve,
                   family_level=family_level, accumulate=accumulate, **checks)


def _identity(kind: str, default: Any = MISSING, **meta: Any) -> Any:
    return _f(kind, default, role="identity", **meta)


def _arch(kind: str, default: Any = MISSING, **meta: Any) -> Any:
    return _f(kind, default, role="architecture", **meta)


def _provenance(kind: str, default: Any = MISSING, **meta: Any) -> Any:
    return _f(kind, default, role="provenance", **meta)


def _when(condition: str, value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A resolved value that exists only when the spec's boolean property `condition` holds."""
    return lambda spec: value(spec) if getattr(spec, condition) else None


POSITIONS = ("learned", "rotary", "alibi", "sinusoidal", "none")
ROTARY_STYLES = ("half", "interleaved", "half_reversed")
TEMPERATURE_FORMS = ("nope_layers", "all_layers")
SINUSOID_STYLES = ("fairseq", "vaswani")
NORMS = ("layernorm", "rmsnorm", "nonparametric_layernorm", "weightless_rmsnorm", "l2")
NORM_POSITIONS = ("pre", "post", "sandwich", "output")
BLOCKS = ("sequential", "parallel", "parallel_two_norms")
HEAD_TRANSFORMS = ("none", "dense", "dense_bias")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "relu2", "silu", "swiglu", "geglu", "clamped_swiglu",
               "xielu")
GATED = ("swiglu", "geglu", "clamped_swiglu")
ROUTER_SCORES = ("softmax", "sigmoid", "sqrtsoftplus", "sparsemixer")
GROUP_SCORES = ("top2", "max")
HYPER_CONNECTION_FORMS = ("manifold", "independent")
ACTIVE_CONVENTIONS = ("all", "no_embedding", "no_embedding_no_head")
QK_NORMS = ("none", "head", "projection", "l2", "each_head", "head_layernorm", "scaled_clip")
# relations a source asserts between its own figures, checked by `zoo verify` (see
# zoo.verify.ASSERTIONS): a spec taken as printed may break them, and then says so
ASSERTIONS = ("attention_width_is_d_model",)
ROPE_SCALINGS = ("linear", "llama3", "yarn", "longrope")
ATTENTION_KINDS = ("global", "local", "chunked", "linear", "mamba", "mamba2", "short_conv",
                   "rglru", "rwkv", "lightning", "mlstm", "kda", "window_mqa",
                   "compressed_sparse", "heavily_compressed", "block_sparse", "indexed", "cross",
                   "none")
# the mixers whose state per sequence is constant in context (a recurrent state, no keys)
RECURRENT_KINDS = ("linear", "mamba", "mamba2", "short_conv", "rglru", "rwkv", "lightning",
                   "mlstm", "kda")
# the mixers zoo counts but whose computation its decoder does not implement
COUNTED_KINDS = ("short_conv", "rglru", "rwkv", "lightning", "mlstm",
                 "kda", "window_mqa", "compressed_sparse", "heavily_compressed", "block_sparse",
                 "indexed", "cross")
# DeepSeek-V4's attention kinds (zoo.accounting.compressed)
COMPRESSED_KINDS = ("window_mqa", "compressed_sparse", "heavily_compressed")
MLP_KINDS = ("dense", "moe", "none")
MAX_LAYERS = 10_000


@dataclass(frozen=True, kw_only=True)
class Reported:
    """A parameter figure as its source states it (rounded, as papers do, unless `exact`)."""

    params: int = _provenance("count", min=1, doc="the figure, e.g. 1.5B or 124439808")
    source: str = _provenance("str", doc="where it is stated")
    exact: bool = _provenance("bool", False, doc="the source gives an exact integer")
    active: int | None = _provenance("count?", None, min=1,
                                     doc="the active parameters per token it states (experts)")
    active_convention: str | None = _provenance(
        "enum?", None, choices=ACTIVE_CONVENTIONS,
        doc="what its active figure counts: `all`, `no_embedding` (head kept: DeepSeek, "
            "gpt-oss), `no_embedding_no_head`")


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Where weights live: public ones on the Hub, or the checkpoint on this machine that a
    spec was read from (`zoo spec` writes it)."""

    hf: str | None = _provenance("str?", None, doc="Hugging Face repo id")
    local: str | None = _provenance(
        "str?", None, doc="a checkpoint on this machine (zoo safetensors, Hugging Face folder, "
                          "GGUF, distributed checkpoint): what `zoo spec` read the entry from")
    model_type: str | None = _provenance(
        "str?", None, doc="the transformers model_type they are published as, when several "
                          "architectures compute the spec (Phi-3 and Mistral)")


@dataclass(frozen=True, kw_only=True)
class RopeScaling:
    """How the rotary frequencies are stretched for a longer context than trained on."""

    type: str = _arch("enum", choices=ROPE_SCALINGS,
                      doc="`linear` (all frequencies / factor), `llama3`, `yarn`, `longrope`")
    factor: float = _arch("float", min=0.0, min_exclusive=True, doc="the stretch")
    original_context: int | None = _arch(
        "int?", None, min=1, doc="the context before scaling (llama3, yarn, longrope)")
    low_freq_factor: float | None = _arch("float?", None, min=0.0, min_exclusive=True,
                                          doc="llama3: wavelengths above original/low scaled")
    high_freq_factor: float | None = _arch("float?", None, min=0.0, min_exclusive=True,
                                           doc="llama3: wavelengths below original/high kept")
    beta_fast: float | None = _arch("float?", None, min=0.0, min_exclusive=True,
                                    doc="yarn: fast boundary of the ramp, in rotations (32)")
    beta_slow: float | None = _arch("float?", None, min=0.0, min_exclusive=True,
                                    doc="yarn: slow boundary of the ramp, in rotations (1)")
    attention_factor: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="yarn: cos and sin scale (default 0.1 ln(factor) + 1, or from mscale)")
    mscale: float | None = _arch("float?", None, min=0.0, min_exclusive=True,
                                 doc="yarn (DeepSeek): the attention factor's numerator scale")
    mscale_all_dim: float | None = _arch(
        "float?", None, min=0.0, min_exclusive=True,
        doc="yarn (DeepSeek): the attention factor's denominator scale")
    truncate: bool | None = _arch("bool?", None,
                                  doc="yarn: round the ramp's ends to whole dims (default true)")
    short_factor: tuple[float, ...] | None = _arch(
        "float_list?", None, min=0.0, min_exclusive=True,
        doc="longrope: each frequency divided by its factor while every position is within "
            "the original context")
    long_factor: tuple[float, ...] | None = _arch(
        "float_list?", None, min=0.0, min_exclusive=True,
        doc="longrope: the same beyond it (chosen per forward pass by the last position)")
