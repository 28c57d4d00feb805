"""One decoder for every spec: the switches of `ModelSpec` select the parts, nothing else.

`create_model` builds on the meta device first (instant, no memory, any size), then, for a real
device, checks that the weights fit before allocating them. Parameter names are zoo's own
(`embed`, `blocks.N.attn.qkv`, `blocks.N.mlp.fc_in`, `head` ...): checkpoint formats map onto
them in `zoo.checkpoints`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.errors import advised
from zoo.model import hugepages, kernels, native
from zoo.model.attention import (
    Attention,
    AttentionInputs,
    LatentAttention,
    LayerAttention,
    attention_inputs,
    layer_attention,
)
from zoo.model.cache import KVCache
from zoo.model.generation import generate_ids, stream_ids
from zoo.model.layers import (
    FEW_ROWS,
    MLP,
    XIELU,
    Embedding,
    Experts,
    HeadLayerNorm,
    LayerNorm,
    Linear,
    MoE,
    RMSNorm,
    check_token_ids,
    make_norm,
    sinusoids,
)
from zoo.model.linear_attention import GatedDeltaNet
from zoo.model.ssm import Mamba2Mixer, MambaMixer
from zoo.spec import ModelSpec, SpecError
from zoo.units import FLOAT_DTYPES, canonical_dtype, human_bytes

POOLINGS = ("last", "mean", "max")
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class ModelTooLargeError(MemoryError):
    """The weights would not fit in the target device's free memory."""


# the arrangements a block's one-call step computes (decode_block in zoo/model/native.cpp)
STEP_ARRANGEMENTS = ("pre", "sandwich", "parallel", "parallel_two_norms")


class StepPlan(NamedTuple):
    """What a block's one-call decoding step (decode_block in zoo/model/native.cpp) takes
    besides its input and the attention's arguments, worked out once (Block._step_plan): the
    modules it reads, the norms' kind ("rms" or "layer"), eps and offset (Gemma's 1 + weight),
    the block's arrangement, the projections' kernels, the MLP's activation, and where each of its
    24 tensors is read at each step (the four norms' weight and bias, the four projections'
    four: a module's own dict of them, and a key, "" for none), so that a tensor the module
    replaces (`to`, a load) is read anew."""

    modules: tuple[nn.Module | None, ...]
    norm: str
    eps: float
    offset: float
    arrangement: str
    kernels: list[str]
    sources: list[tuple[dict[str, Any], str]]
    activation: str


class Block(nn.Module):
    """Attention and MLP around the residual stream, in one of six arrangements, or (pre-norm)
one normalised sublayer alone: a token mixer without an MLP (Mamba) or an MLP without a token
mixer (Nemotron-H's MLP and expert layers).

    `norm1` and `norm2` normalise the input of attention and MLP (or, post-norm, the residual
    sum after them); `post_attn_norm` and `post_mlp_norm` normalise their outputs (sandwich and
    output placements). Gemma 4 adds experts beside the dense MLP (`moe`, with norms of their
    own), a per-layer input after both sublayers, and a stored scalar on the block's output."""

    def __init__(self, spec: ModelSpec, layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.arrangement = spec.norm_position if spec.block == "sequential" else spec.block
        inputs = self.arrangement in ("pre", "post", "sandwich", "parallel", "parallel_two_norms")
        outputs = self.arrangement in ("sandwich", "output")
        self.norm1 = make_norm(spec) if inputs else None
        kind = spec.layer_kinds[layer]
        attention = (GatedDeltaNet if kind == "linear" else Mamba2Mixer if kind == "mamba2" else
                     MambaMixer if kind == "mamba" else LatentAttention if spec.latent else
                     LayerAttention if layer_attention(spec) else Attention)
        # a layer without a token mixer (Nemotron-H's MLP layers) is one norm and its MLP
        self.attn = attention(spec, layer, dropout) if kind != "none" else nn.Identity()
        mixer_only = spec.layer_mlp[layer] == "none"  # Mamba: one norm, one mixer, no MLP
        if mixer_only or kind == "none":
            self.arrangement = "mixer_only" if mixer_only else "mlp_only"
        self.norm2 = (make_norm(spec) if inputs and self.arrangement not in ("parallel",
                                                                             "mixer_only",
                                                                             "mlp_only")
                      else None)
        self.post_attn_norm = make_norm(spec) if outputs else None
        shares = spec.layer_kv_shared[layer]
        width = spec.d_ff * (2 if shares and spec.double_wide_shared_mlp else 1)
        beside = spec.layer_moe[layer] and spec.dense_mlp_with_experts
        self.mlp: nn.Module | None = (None if mixer_only else MoE(spec)
                                      if spec.layer_moe[layer] and not beside
                                      else MLP(spec, width))
        self.post_mlp_norm = make_norm(spec) if outputs else None
        # Gemma 4: experts beside the dense MLP, each output normalised apart (sandwich)
        self.moe = MoE(spec) if beside else None
        sandwich = beside and self.arrangement == "sandwich"
        self.post_dense_norm = make_norm(spec) if sandwich else None
        self.pre_moe_norm = make_norm(spec) if sandwich else None
        self.post_moe_norm = make_norm(spec) if sandwich else None
        # Gemma 4's per-layer input: gated by the stream, projected back, normalised
        self.layer, p = layer, spec.per_layer_embed_dim
        self.per_layer_gate = Linear(spec.d_model, p, bias=False) if p else None
        self.per_layer_out = Linear(p, spec.d_model, bias=False) if p else None
        self.per_layer_norm = make_norm(spec) if p else None
        if spec.layer_scalar:
            self.register_buffer("layer_scalar", torch.empty(1))
        self.dropout, self.multiplier = dropout, spec.residual_multiplier

    def _drop(self, x: Tensor) -> Tensor:
        """A sublayer's output as it joins the residual stream: dropped out, and scaled by the
        residual multiplier (Granite)."""
        x = F.dropout(x, self.dropout, self.training) if self.dropout else x
        return x * self.multiplier if self.multiplier != 1.0 else x

    fused = False  # zoo's one-call decoding step (zoo.model.native); Model.lay_out sets it
    fused_kernel = "zoo_block"
    _plan: StepPlan | None = None  # what that step reads (fusable works it out)

    def fusable(self) -> bool:
        """Whether zoo's one-call step computes this block's decoding step: one of
        `STEP_ARRANGEMENTS`, norms of one kind, an attention layer whose step is one call, an
        MLP whose activation native.cpp has, each projection on a kernel native.cpp runs too
        (chosen before: Model.lay_out), and nothing else (no residual multiplier, experts,
        per-layer input or scalar)."""
        attn, mlp = self.attn, self.mlp
        return self.arrangement in STEP_ARRANGEMENTS and self.multiplier == 1.0 \
            and self.moe is None and self.per_layer_gate is None \
            and not hasattr(self, "layer_scalar") \
            and type(attn) is Attention and attn.fusable() \
            and type(mlp) is MLP and mlp.act is None \
            and mlp.spec.activation in native.ACTIVATIONS \
            and self._step_plan() is not None

    def kernel_choice(self) -> tuple[str | None, tuple[str, ...]]:
        """"zoo_block" where zoo's one-call step runs a decoding step (kernels.summary)."""
        return ("zoo_block" if self.fused else None), ()

    def _step_modules(self) -> tuple[nn.Module | None, ...]:
        """The modules whose tensors the one-call step reads: the four norms (None where the
        arrangement has fewer) and the four projections (read from the modules' own dicts:
        a module attribute costs 0.5 us, and this runs once a step)."""
        own = self._modules
        attn, mlp = own["attn"]._modules, own["mlp"]._modules  # type: ignore[union-attr]
        return (own.get("norm1"), own.get("norm2"), own.get("post_attn_norm"),
                own.get("post_mlp_norm"), attn.get("qkv"), attn.get("out"), mlp.get("fc_in"),
                mlp.get("fc_out"))

    def _step_plan(self) -> StepPlan | None:
        """The one-call step's plan for the block's modules as they are now (kept in `_plan`),
        or None where the norms are not all RMSNorms or all LayerNorms with one eps and offset,
        or a projection runs a kernel native.cpp lacks."""
        modules = self._step_modules()
        norms = [n for n in modules[:4] if n is not None]
        kind = "rms" if all(type(n) is RMSNorm for n in norms) else \
            "layer" if all(type(n) is LayerNorm for n in norms) else None
        forms = {(n.eps, bool(getattr(n, "unit_offset", False))) for n in norms}
        self._plan = None
        if kind is None or len(forms) != 1:
            return None
        sources: list[tuple[dict[str, Any], str]] = []
        for n in modules[:4]:
            params = n._parameters if n is not None else {}
            sources += [(params, "weight"), (params, "bias")]
        kernels_: list[str] = []
        for layer in modules[4:]:
            native_form = getattr(layer, "native_form", None)  # Linear's, PackedLinear's
            form = native_form() if native_form is not None else None
            if form is None:
                return None
            kernels_.append(form[0])
            sources += [(form[1], key) for key in form[2]]
        eps, offset = forms.pop()
        assert isinstance(self.mlp, MLP)
        self._plan = StepPlan(modules, kind, eps, float(offset), self.arrangement,
                              kernels_, sources, self.mlp.spec.activation)
        return self._plan

    def _fused_step(self, x: Tensor, inputs: AttentionInputs, cache: KVCache) -> Tensor | None:
        """A decoding step of the whole block in one call (decode_block in
        zoo/model/native.cpp), or None where a module replaced since the block was laid out
        (zoo.quantize) is one the step cannot run."""
        plan = self._plan
        if plan is None or plan.modules != self._step_modules():
            self.fused = self.fusable()  # laid out again with the modules as they are now
            plan = self._plan
            if not self.fused or plan is None:
                return None
        tensors = [source.get(key) if key else None for source, key in plan.sources]
        assert isinstance(self.attn, Attention)
        return native.ops().decode_block(
            x, plan.norm, tensors[:8], plan.eps, plan.offset, plan.arrangement, plan.kernels,
            tensors[8:], *self.attn.step_arguments(x, inputs, cache), plan.activation)

    def forward(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None) -> Tensor:
        if self.fused and x.shape[0] <= FEW_ROWS and not (self.training and self.dropout) \
                and self.attn.steps_in_one_call(x, inputs, cache):
            assert cache is not None
            y = self._fused_step(x, inputs, cache)
            if y is not None:
                return y
        x = self._sublayers(x, inputs, cache)
        if self.per_layer_gate is not None:
            assert self.per_layer_out is not None and self.per_layer_norm is not None
            assert inputs.per_layer is not None
            gated = F.gelu(self.per_layer_gate(x), approximate="tanh") \
                * inputs.per_layer[:, :, self.layer]
            x = x + self._drop(self.per_layer_norm(self.per_layer_out(gated)))
        if hasattr(self, "layer_scalar"):
            x = x * self.layer_scalar
        return x

    def _dense_and_experts(self, x: Tensor) -> Tensor:
        """Gemma 4's feed-forward part: the dense MLP on the normalised stream and the experts
        on their own normalisation of it, routed on the stream itself."""
        assert self.moe is not None and self.pre_moe_norm is not None
        assert self.post_dense_norm is not None and self.post_moe_norm is not None
        dense = self.post_dense_norm(self.mlp(self.norm2(x)))
        return dense + self.post_moe_norm(self.moe(self.pre_moe_norm(x), route_from=x))

    def _sublayers(self, x: Tensor, inputs: AttentionInputs, cache: KVCache | None) -> Tensor:
        attn, mlp, drop = self.attn, self.mlp, self._drop
        if self.arrangement == "sandwich" and self.moe is not None:
            x = x + drop(self.post_attn_norm(attn(self.norm1(x), inputs, cache)))
            return x + drop(self.post_mlp_norm(self._dense_and_experts(x)))
        if self.arrangement == "pre":  # GPT-2 and most since
            x = x + drop(attn(self.norm1(x), inputs, cache))
            return x + drop(mlp(self.norm2(x)))
        if self.arrangement == "mixer_only":  # Mamba: a pre-norm mixer, no MLP
            return x + drop(attn(self.norm1(x), inputs, cache))
        if self.arrangement == "mlp_only":  # Nemotron-H: a pre-norm MLP, no token mixer
            return x + drop(mlp(self.norm1(x)))
        if self.arrangement == "sandwich":  # Gemma 2 and 3: before and after each sublayer
            x = x + drop(self.post_attn_norm(attn(self.norm1(x), inputs, cache)))
            return x + drop(self.post_mlp_norm(mlp(self.norm2(x))))
        if self.arrangement == "output":  # OLMo 2: on each sublayer's output only
            x = x + drop(self.post_attn_norm(attn(x, inputs, cache)))
            return x + drop(self.post_mlp_norm(mlp(x)))
        if self.arrangement == "post":  # GPT-1, OPT-350M: normalize after each residual sum
            x = self.norm1(x + drop(attn(x, inputs, cache)))
            return self.norm2(x + drop(mlp(x)))
        if self.arrangement == "parallel":  # GPT-J, Falcon-7B: one norm feeds both
            h = self.norm1(x)
            return x + drop(attn(h, inputs, cache)) + drop(mlp(h))
        # parallel_two_norms: GPT-NeoX, Pythia, Falcon-40B
        return x + drop(attn(self.norm1(x), inputs, cache)) + drop(mlp(self.norm2(x)))


class Model(nn.Module):
    """A decoder-only language model built from a spec (see `create_model`)."""

    def __init__(self, spec: ModelSpec, *, head: str | None = None, num_labels: int = 2,
                 pooling: str = "last", dropout: float = 0.0) -> None:
        super().__init__()
        if head not in (None, "classify"):
            raise ValueError(f"unknown head {head!r}; expected None or 'classify'")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if spec.counted_only:  # the closed form is exact; the computation would not be
            raise SpecError(f"counted; building it is not supported: {spec.counted_only}",
                            model=spec.name)
        self.spec, self.pooling, self.dropout = spec, pooling, dropout
        d, width = spec.d_model, spec.embed_width
        projected = spec.embed_dim is not None
        self.embed = Embedding(spec.vocab_size, width)
        self.project_in = Linear(width, d, bias=False) if projected else None
        self.positions = (Embedding(spec.context_length + spec.position_offset, d)
                          if spec.position == "learned" else None)
        self.embed_norm = make_norm(spec) if spec.embedding_norm else None
        p = spec.per_layer_embed_dim  # Gemma 4's per-layer inputs
        self.per_layer_embed = (Embedding(spec.per_layer_vocab_size, spec.n_layer * p)
                                if p else None)
        self.per_layer_project = Linear(d, spec.n_layer * p, bias=False) if p else None
        self.per_layer_norm = make_norm(spec, p) if p else None
        self.blocks = nn.ModuleList(Block(spec, i, dropout) for i in range(spec.n_layer))
        self.final_norm = make_norm(spec) if spec.final_norm else None
        self.project_out = Linear(d, width, bias=False) if projected else None
        self.head = Linear(width, spec.vocab_size, bias=spec.head_bias)
        self.classifier = Linear(d, num_labels, bias=False) if head == "classify" else None
        self.tokenizer: Any = None  # set by loaders that find one (zoo.Tokenizer)
        self.load_report: Any = None  # set by non-strict loads
        self.quantized: str | None = None  # set by zoo.quantize (weights packed for inference)
        self.packed_modes: dict[str, str] = {}  # and the mode each linear layer got
        self.laid_out: torch.dtype | None = None  # the dtype `lay_out` last ran for
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.spec.tie_embeddings and isinstance(self.head, Linear):  # not once packed
            self.head.weight = self.embed.weight
            self.head.shared = True  # its kernel keeps the embedding's layout

    def num_params(self) -> int:
        """Parameters counted once each (a tied head is the embedding)."""
        return sum(p.numel() for p in self.parameters())

    def _dtype(self) -> torch.dtype:
        """The model's dtype: its embedding's (a packed one says it without a tensor)."""
        return getattr(self.embed, "dtype", None) or self.embed.weight.dtype

    def lay_out(self) -> None:
        """Choose every linear layer's CPU kernel (zoo.model.kernels) and rewrite each weight
        once in the layout its kernel reads (with ZOO_HUGEPAGES=1, all of them in one region
        of 2 MiB pages: zoo.model.hugepages), and let fp32 RMSNorms and attention layers run
        zoo's one-call forms where they are offered; run by the first inference call on the
        CPU, and again after a change of dtype. Under torch.distributed each layer keeps its
        own weight (FSDP owns their storage)."""
        self.laid_out = self._dtype()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return
        layers = [m for m in self.modules() if isinstance(m, Linear)
                  and m.weight.device.type == "cpu"
                  and m.weight.dtype in (torch.float32, torch.bfloat16)]
        for layer in layers:
            layer.choose(layer.weight.dtype, relayout=False)
        for module in self.modules():  # RMSNorm, Attention, Block: zoo's one-call forms
            fused = getattr(module, "fused_kernel", None)
            if fused is not None:
                module.fused = self._dtype() == torch.float32 and module.fusable() and \
                    kernels.offered(fused)
        weights = {id(m.weight): (m.weight, m.transposed()) for m in layers}  # a tied head once
        pages = hugepages.region(w for w, _ in weights.values())
        with torch.inference_mode(False):  # normal tensors: the parameters may be trained later
            for weight, transposed in weights.values():
                weight.data = pages.place(weight, transposed) if pages is not None else \
                    hugepages.relayout(weight.detach(), transposed)
                hugepages.release()  # its old bytes, before the next is copied

    # --- forward -----------------------------------------------------------------------------
    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                      past_key_values: KVCache | None = None) -> Tensor:
        """The final hidden states (batch, seq, d_model), after the final norm."""
        spec = self.spec
        if input_ids.dim() != 2 or input_ids.dtype not in (torch.long, torch.int):
            raise ValueError(f"input_ids must be an integer tensor (batch, seq), got "
                             f"{input_ids.dtype} of shape {tuple(input_ids.shape)}")
        batch, seq = input_ids.shape
        if seq == 0:
            raise ValueError("input_ids has no tokens")
        check_token_ids(spec, input_ids)
        if not torch.is_grad_enabled() and self.laid_out != self._dtype() and \
                input_ids.device.type == "cpu":
            self.lay_out()
        past = past_key_values.length if past_key_values is not None else 0
        positions, key_positions, key_valid = self._positions(attention_mask, batch, past, seq,
                                                              input_ids.device)
        if self.positions is not None and int(positions.max()) >= spec.context_length:
            raise ValueError(f"position {int(positions.max())} is past {spec.name}'s context "
                             f"of {spec.context_length} tokens")
        x = self.embed(input_ids)
        if spec.scale_embeddings:  # Gemma: by sqrt(d_model) (fp32), rounded to the embedding's
            x = x * torch.tensor(math.sqrt(spec.d_model)).to(x.device, x.dtype)
        per_layer = self._per_layer_inputs(input_ids, x)
        if spec.embedding_multiplier != 1.0:  # Granite
            x = x * spec.embedding_multiplier
        if self.project_in is not None:
            x = self.project_in(x)
        if self.positions is not None:
            x = x + self.positions(positions + spec.position_offset)
        elif spec.position == "sinusoidal":  # XGLM, CTRL: fixed, no parameters
            x = x + sinusoids(spec, positions, x.dtype)
        if self.embed_norm is not None:
            x = self.embed_norm(x)
        if self.dropout:
            x = F.dropout(x, self.dropout, self.training)
        inputs = attention_inputs(spec, positions=positions, past=past, seq=seq,
                                  key_valid=key_valid, key_positions=key_positions,
                                  dtype=x.dtype)
        inputs.per_layer = per_layer
        for block in self.blocks:
            x = block(x, inputs, past_key_values)
        return self.final_norm(x) if self.final_norm is not None else x

    def _per_layer_inputs(self, input_ids: Tensor, embedded: Tensor) -> Tensor | None:
        """Gemma 4's per-layer inputs (batch, seq, n_layer, p): the token's row of the
        per-layer table (times sqrt(p)) and the scaled embedding projected and normalised per
        layer, averaged in the sense of (a + b) / sqrt(2)."""
        if self.per_layer_embed is None:
            return None
        assert self.per_layer_project is not None and self.per_layer_norm is not None
        spec, (batch, seq) = self.spec, input_ids.shape
        p = self.per_layer_embed.weight.shape[1] // spec.n_layer
        table = self.per_layer_embed(input_ids)
        table = table * torch.tensor(math.sqrt(p)).to(table.device, table.dtype)
        projected = self.per_layer_project(embedded) * spec.d_model ** -0.5
        projected = self.per_layer_norm(projected.view(batch, seq, spec.n_layer, p))
        return (projected + table.view(batch, seq, spec.n_layer, p)) * 2 ** -0.5

    def _positions(self, attention_mask: Tensor | None, batch: int, past: int, seq: int,
                   device: torch.device) -> tuple[Tensor, Tensor, Tensor | None]:
        """Token positions of the new tokens and of every key, and which keys are real.

        With a mask, positions count real tokens only, so a left-padded prompt starts at 0.
        """
        total = past + seq
        if attention_mask is None:
            keys = torch.arange(total, device=device).expand(batch, total)
            return keys[:, past:], keys, None
        if attention_mask.shape != (batch, total):
            raise ValueError(f"attention_mask must have shape (batch, past + seq) = "
                             f"{(batch, total)}, got {tuple(attention_mask.shape)}")
        keys = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return keys[:, past:], keys, attention_mask

    def logits(self, hidden: Tensor) -> Tensor:
        if self.project_out is not None:
            hidden = self.project_out(hidden)
        logits = self.head(hidden)
        if self.spec.logit_scale != 1.0:  # Command R's logit_scale, Granite's 1 / logits_scaling
            logits = logits * self.spec.logit_scale
        cap = self.spec.final_softcap
        return cap * torch.tanh(logits / cap) if cap is not None else logits

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                past_key_values: KVCache | None = None,
                use_cache: bool = False) -> Tensor | tuple[Tensor, KVCache]:
        """Logits (batch, seq, vocab); with a cache (given, or `use_cache`), (logits, cache)."""
        if use_cache and past_key_values is None:
            past_key_values = KVCache(self.spec.n_layer)
        logits = self.logits(self.hidden_states(input_ids, attention_mask, past_key_values))
        return logits if past_key_values is None else (logits, past_key_values)

    def next_token_logits(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                          past_key_values: KVCache | None = None) -> Tensor:
        """Logits (batch, vocab) for the token after the last one: the head runs on one
        position, not the whole prompt."""
        hidden = self.hidden_states(input_ids, attention_mask, past_key_values)
        return self.logits(hidden[:, -1])

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                 **options: Any) -> Tensor:
        """The prompt followed by up to `max_new_tokens` generated ids (batch x total length).

        Greedy by default; sampling, beam search, eos ids, stop strings and the rest are the
        options of `zoo.model.generation.Options`, all checked before any compute. Left-padded
        batches take an `attention_mask`.
        """
        return generate_ids(self, input_ids, attention_mask, **options)

    def stream(self, input_ids: Tensor, attention_mask: Tensor | None = None,
               **options: Any) -> Iterator[list[list[int]]]:
        """`generate` as it happens: per step, each row's newly settled token ids (a list per
        row, empty once the row has finished). With beams, a token is yielded once every live
        beam agrees on it, and the rest of the best hypothesis at the end. The concatenated
        yields of a row are exactly its generated ids."""
        return stream_ids(self, input_ids, attention_mask, **options)

    def loss(self, input_ids: Tensor, targets: Tensor | None = None,
             attention_mask: Tensor | None = None, *, sampling_rate: float = 0.0,
             prediction: str = "greedy", generator: torch.Generator | None = None) -> Tensor:
        """Mean next-token cross-entropy (the GPT objective), padding and -100 ignored.

        Without `targets`, token t predicts token t+1 of `input_ids`. With them, `targets` has
        the shape of `input_ids` and is already staggered (targets[t] follows input_ids[:t+1]).

        `sampling_rate` > 0 backs off teacher forcing by scheduled sampling: the inputs are
        mixed by `scheduled_inputs` (each gold input replaced, with that probability, by the
        model's own prediction from a first, teacher-forced pass) while the targets stay gold.
        At 0 (the default) nothing else runs: this is exactly the teacher-forced loss.
        """
        gold = input_ids
        if sampling_rate:
            input_ids = self.scheduled_inputs(input_ids, attention_mask, rate=sampling_rate,
                                              prediction=prediction, generator=generator)
        hidden = self.hidden_states(input_ids, attention_mask)
        if targets is None:
            hidden, targets = hidden[:, :-1], gold[:, 1:]
            valid = attention_mask[:, 1:] if attention_mask is not None else None
        else:
            if targets.shape != input_ids.shape:
                raise ValueError(f"targets must have the shape of input_ids "
                                 f"{tuple(input_ids.shape)}, got {tuple(targets.shape)}")
            valid = attention_mask
        if valid is not None:
            targets = targets.masked_fill(valid == 0, -100)
        logits = self.logits(hidden)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)

    def scheduled_inputs(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                         rate: float, prediction: str = "greedy",
                         generator: torch.Generator | None = None) -> Tensor:
        """`input_ids` with each input after the first replaced, with probability `rate`, by
        the model's prediction of it: scheduled sampling in its two-pass form for transformers.

        Bengio et al. (2015), "Scheduled Sampling for Sequence Prediction with Recurrent Neural
        Networks", feed an RNN its own previous output, with a probability raised over
        training, so that it learns to continue from its own mistakes (teacher forcing never
        shows it any). A transformer computes every position at once, so there is no "previous
        output" to feed during a teacher-forced pass; Mihaylova and Martins (2019), "Scheduled
        Sampling for Transformers", run the decoder twice: a first pass on the gold inputs
        gives a prediction at every position, and the second pass, the one that is scored, sees
        gold or predicted inputs, chosen per position.

        The choices made here: the prediction of input t is the first pass's `greedy` argmax
        at position t-1 (or a token drawn from its softmax, `prediction="sample"`, as Bengio
        et al. draw it); it is a hard token, so no gradient reaches the first pass, which runs
        under no_grad (in the model's current mode) and keeps no activations: Mihaylova and
        Martins also mix embeddings softly, which would let it flow, at twice the memory. Each
        position is replaced independently (Bernoulli(rate), from `generator`); the first input
        and padding (attention_mask 0) never are. The caller schedules the rate over training.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the scheduled-sampling rate is a probability in [0, 1], got {rate}")
        if prediction not in ("greedy", "sample"):
            raise ValueError(f"unknown prediction {prediction!r}; expected 'greedy' or 'sample'")
        with torch.no_grad():
            logits = self(input_ids, attention_mask)[:, :-1]
            if prediction == "greedy":
                predicted = logits.argmax(-1)
            else:
                probs = logits.float().softmax(-1).flatten(0, 1)
                predicted = torch.multinomial(probs, 1, generator=generator).view(
                    logits.shape[:-1])
        replace = torch.rand(predicted.shape, generator=generator,
                             device=predicted.device) < rate
        if attention_mask is not None:
            replace &= attention_mask[:, 1:].bool()
        mixed = input_ids.clone()
        mixed[:, 1:] = torch.where(replace, predicted, input_ids[:, 1:])
        return mixed

    def classify(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Class logits (batch, num_labels) from the final states, pooled as `pooling` says."""
        if self.classifier is None:
            raise ValueError("this model has no classifier; create it with head='classify'")
        hidden = self.hidden_states(input_ids, attention_mask)
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, device=input_ids.device)
        mask = attention_mask.to(hidden.dtype)[..., None]
        if self.pooling == "last":  # the last real token of each row, whichever side is padded
            index = torch.arange(input_ids.shape[1], device=input_ids.device)
            last = (index * attention_mask.long()).argmax(-1)
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        elif self.pooling == "mean":
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            pooled = hidden.masked_fill(mask == 0, float("-inf")).amax(1)
        return self.classifier(pooled)

    # --- weights -----------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, seed: int | None = None, only: set[str] | None = None) -> None:
        """GPT-2's initialisation: N(0, 0.02), residual projections (attention and MLP outputs,
        experts' included) scaled by 1/sqrt(2 x layers), zero biases, sinks and routing biases,
        norms that start as the identity; `only` limits it to those parameter names."""
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.embed.weight.device).manual_seed(seed)
        residual_std = 0.02 / math.sqrt(2 * self.spec.n_layer)

        def normal(std: float) -> Callable[[Tensor], Any]:
            return lambda t: t.normal_(0.0, std, generator=generator)

        def fill(value: float) -> Callable[[Tensor], Any]:
            return lambda t: t.fill_(value)

        def inverse_softplus_step(t: Tensor) -> Any:  # softplus(t) log-uniform in [1e-3, 0.1]
            return t.uniform_(math.log(1e-3), math.log(0.1), generator=generator).exp_() \
                .expm1_().log_()

        for name, module in self.named_modules():
            residual = name.endswith(("attn.out", "attn.out_proj", "mlp.fc_out",
                                      "shared.fc_out"))
            rules: dict[str, Callable[[Tensor], Any]] = {"bias": fill(0.0)}
            if isinstance(module, (nn.Linear, nn.Embedding)):
                rules["weight"] = normal(residual_std if residual else 0.02)
                if name.endswith("attn.dt_proj"):  # Mamba's step bias, as transformers sets it
                    rules["bias"] = inverse_softplus_step
            elif isinstance(module, RMSNorm):  # (1 + w) norms start at w = 0
                rules["weight"] = fill(0.0 if module.unit_offset else 1.0)
            elif isinstance(module, (nn.LayerNorm, HeadLayerNorm)):
                rules["weight"] = fill(1.0)
            elif isinstance(module, GatedDeltaNet):  # transformers' init: decay rates
                # A = exp(A_log) uniform in [1, 16], dt_bias 1
                rules = {"conv": normal(0.02), "dt_bias": fill(1.0),
                         "A_log": lambda t: t.uniform_(1.0, 16.0, generator=generator).log_()}
            elif isinstance(module, Mamba2Mixer):  # transformers' init: A = 1..heads, D 1
                rules = {"conv": normal(0.02), "conv_bias": fill(0.0), "D": fill(1.0),
                         "norm": fill(1.0), "dt_bias": inverse_softplus_step,
                         "A_log": lambda t: t.copy_(torch.arange(1, t.numel() + 1)).log_()}
            elif isinstance(module, MambaMixer):  # A = 1..d_state on every channel, D 1
                rules = {"conv": normal(0.02), "conv_bias": fill(0.0), "D": fill(1.0),
                         "A_log": lambda t: t.copy_(torch.arange(1, t.shape[1] + 1)).log_(),
                         "dt_norm": fill(1.0), "b_norm": fill(1.0), "c_norm": fill(1.0)}
            elif isinstance(module, Experts):
                rules = {"fc_in": normal(0.02), "fc_out": normal(residual_std),
                         "fc_in_bias": fill(0.0), "fc_out_bias": fill(0.0)}
            elif isinstance(module, XIELU):  # transformers' init: a = b = 0.8
                rules = {"alpha_p": fill(math.log(math.expm1(0.8))),
                         "alpha_n": fill(math.log(math.expm1(0.3))), "beta": fill(0.5),
                         "eps": fill(-1e-6)}
            rules.update({f"lambda_{w}": normal(0.1) for w in ("q1", "k1", "q2", "k2")})
            rules.update(sinks=fill(0.0), routing_bias=fill(0.0), layer_scalar=fill(1.0),
                         router_scale=fill(1.0), expert_scale=fill(1.0))
            for attr, init in rules.items():
                tensor = getattr(module, attr, None)
                full = f"{name}.{attr}".lstrip(".")
                if isinstance(tensor, Tensor) and (only is None or full in only):
                    init(tensor)
        self.tie_weights()

    def extra_repr(self) -> str:
        return f"spec={self.spec.name!r}"


def resolve_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    return TORCH_DTYPES[canonical_dtype(dtype, FLOAT_DTYPES)]


def available_memory(device: torch.device) -> int | None:
    """Free bytes on the device: MemAvailable (bounded by a cgroup limit) for the CPU,
    the driver's free memory for an accelerator; None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            free = min(free, int(limit) - usage) if free is not None else int(limit) - usage
    return free


def check_fits(spec: ModelSpec, nbytes: int, device: torch.device, dtype: torch.dtype) -> None:
    free = available_memory(device)
    if free is None or nbytes <= free:
        return
    raise advised(
        ModelTooLargeError,
        f"{spec.name} needs {nbytes:,} bytes ({human_bytes(nbytes)}) of {str(dtype)[6:]} weights "
        f"on {device}, but {free:,} bytes ({human_bytes(free)}) are available.",
        python=" Build it with device='meta' to inspect it without memory, shard it across "
               "devices (zoo.shard, or zoo.load(..., device_map='auto')), or pass "
               "ignore_memory_limit=True to try anyway.",
        cli=" Load it with fewer bytes (--dtype bf16, or --quantize int8 / int4 where the "
            "command takes it), `zoo show` it without loading, or shard it with `zoo "
            "distributed`.")


def create_model(spec: ModelSpec, *, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, head: str | None = None,
                 num_labels: int = 2, pooling: str = "last", dropout: float = 0.0,
                 seed: int | None = None, ignore_memory_limit: bool = False) -> Model:
    """A model for `spec`, randomly initialised unless on `meta` (zoo.create_model takes names).

    The module is built on the meta device, so `device="meta"` returns at once for any size;
    for a real device the weights are allocated only after checking they fit in its free
    memory (`ignore_memory_limit=True` skips the check).
    """
    target = torch.device(device if device is not None else "cpu")
    dtype = resolve_dtype(dtype)
    with torch.device("meta"):
        model = Model(spec, head=head, num_labels=num_labels, pooling=pooling, dropout=dropout)
    if model.embed.weight.dtype != dtype:
        model = model.to(dtype)
    if target.type == "meta":
        return model
    if not ignore_memory_limit:
        nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
        check_fits(spec, nbytes, target, dtype)
    model = model.to_empty(device=target)
    model.tie_weights()
    model.init_weights(seed)
    return model

