"""The generation engine: decision rules over a model's next-token scores, for every family.

A language model only scores the vocabulary; generating is choosing from those scores: the
most likely token (greedy), a random one from a reshaped distribution (temperature, top-k,
top-p), or the best continuations kept side by side (beam search). `Decoder` owns the two
model calls, prefill (the prompt once) and step (one token through the KV cache); the rules,
chosen from `RULES`, only see scores and return tokens. `Options` declares every option once.

The engine needs of a model only `spec`, `next_token_logits` and `tokenizer` (for stop
strings), so it sits below the model: `Model.generate` calls it, it never imports the model.
Text (prompts, chat templates, cutting at stop strings, names and paths) is `zoo.text`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.fields import check, convert, declared, describe, setting
from zoo.model.cache import KVCache, check_fits
from zoo.model.layers import check_token_ids
from zoo.spec import ModelSpec

if TYPE_CHECKING:
    from zoo.tokenizer import Tokenizer


class Scorer(Protocol):
    """What the engine needs of a model (zoo.Model is one)."""

    spec: ModelSpec
    tokenizer: Any

    def next_token_logits(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                          past_key_values: KVCache | None = None) -> Tensor: ...


MAX_BEAMS = 64  # a typo (num_beams=1000) would otherwise cost 1000 KV caches


@dataclass(frozen=True, kw_only=True)
class Options:
    """Every generation option, declared once (`zoo.fields`): `Model.generate`, `zoo.generate`
    and the CLI's flags take them from here, and `Options.check` validates a call once,
    before any compute; the checked object is what the engine runs on.

    Greedy by default; `do_sample` draws from the distribution reshaped by `temperature` (0
    means greedy), `top_k` and `top_p`, reproducibly with `seed`; `num_beams` > 1 is beam
    search (`length_penalty`, `early_stopping` True / False / "never", as transformers defines
    them; at most MAX_BEAMS beams, each holding its own KV cache). `max_new_tokens` is
    required by `Model.generate`; `zoo.generate` defaults it to what the context leaves, at
    most 128, and `eos_token_id` to the tokenizer's. Rows stop at any of
    `eos_token_id` or a `stop` string (read with the model's tokenizer); finished rows are
    filled with `pad_token_id` (default: the first eos id, else 0). `use_cache` keeps keys and
    values (a step costs one token). Prompts of unequal length are padded on the left.
    """

    max_new_tokens: int = setting("int", min=1, doc="the most tokens to generate",
                                  default_doc="128, or what the context leaves")
    do_sample: bool = setting("bool", False, cli=False,
                              doc="draw each token from the (reshaped) distribution")
    temperature: float = setting(
        "float", 1.0, min=0.0, why="0 means greedy", sampling=True,
        doc="sample at this temperature; 0 is greedy", default_doc="greedy decoding")
    top_k: int | None = setting("int?", None, min=1, sampling=True,
                                doc="sample from the k best")
    top_p: float | None = setting("float?", None, min=0.0, min_exclusive=True, max=1.0,
                                  expected="in (0, 1]", sampling=True,
                                  doc="sample from the p nucleus")
    num_beams: int = setting("int", 1, min=1, max=MAX_BEAMS,
                             why="each beam keeps its own KV cache", flag="--beams",
                             metavar="B", doc="beam search with B beams")
    length_penalty: float = setting("float", 1.0, cli=False,
                                    doc="beam search: scores divided by length ** this")
    early_stopping: bool | str = setting(
        "early_stopping", False, cli=False,
        doc="beam search: stop when enough hypotheses end (True), by the heuristic (False), "
            "or never before no beam can improve ('never')")
    eos_token_id: tuple[int, ...] | None = setting(
        "token_ids?", None, cli=False, doc="token id(s) that end a row (zoo.generate: the "
                                           "tokenizer's)")
    pad_token_id: int | None = setting("int?", None, cli=False,
                                       doc="what fills a finished row")
    stop: tuple[str, ...] | None = setting("strings?", None, flag="--stop",
                                           doc="stop string (repeatable)")
    seed: int | None = setting("int?", None, min=0, max=2**64 - 1,
                               doc="seed for reproducible sampling")
    use_cache: bool = setting("bool", True, cli=False, doc="keep keys and values")

    @classmethod
    def names(cls) -> list[str]:
        return list(declared(cls))

    @classmethod
    def check_alone(cls, **options: Any) -> Options:
        """The rules the options obey by themselves (names, types, ranges, conflicts), checked
        before any model is loaded; `check` adds those that need the model and the prompt."""
        unknown = [name for name in options if name not in cls.names()]
        if unknown:
            raise ValueError(f"unknown generation option(s) {', '.join(unknown)}; the options "
                             f"are {', '.join(cls.names())}")
        if "max_new_tokens" not in options:
            raise ValueError("max_new_tokens is required")
        o = cls(**check(cls, options, dialect="python"))
        # the options that shape a draw (declared `sampling=True`) and are not at their default
        sampling = [name for name, f in declared(cls).items() if f.metadata.get("sampling")
                    and getattr(o, name) != f.default
                    and not (name == "temperature" and o.temperature == 0)]
        if not o.do_sample and sampling:
            one = len(sampling) == 1
            raise ValueError(f"{', '.join(sampling)} only appl{'ies' if one else 'y'} when "
                             f"sampling; pass do_sample=True (or leave "
                             f"{'it' if one else 'them'} out for greedy decoding)")
        if o.do_sample and o.num_beams > 1:
            raise ValueError("do_sample and num_beams > 1 conflict: choose sampling or beam "
                             "search")
        if o.num_beams == 1 and o.length_penalty != 1.0:
            raise ValueError("length_penalty only applies to beam search (num_beams > 1)")
        if any(not s for s in o.stop or ()):
            raise ValueError("a stop string must not be empty")
        return o

    @classmethod
    def check(cls, spec: ModelSpec, input_ids: Any, attention_mask: Any,
              tokenizer: Tokenizer | None, **options: Any) -> Options:
        """The options, validated against the call: a bad call is a ValueError that says what
        to change, raised before any compute (every type, range and conflict). Numbers come
        back as Python numbers, eos ids and stop strings as tuples, the pad id resolved."""
        o = cls.check_alone(**options)
        _check_prompt(spec, input_ids, attention_mask, o.max_new_tokens)
        vocab = {"kind": "int", "min": 0, "max": spec.vocab_size - 1,
                 "why": f"the vocabulary of {spec.vocab_size}"}
        # each id once, within the vocabulary: beam search keeps candidates per eos id
        eos = tuple(dict.fromkeys(convert("eos_token_id", token, vocab, "python")
                                  for token in o.eos_token_id or ()))
        if o.pad_token_id is not None:
            convert("pad_token_id", o.pad_token_id, vocab, "python")
        stops = o.stop or ()
        if stops and tokenizer is None:
            raise ValueError("stop strings need a tokenizer to read the text; this model has "
                             "none (use eos_token_id, or load a checkpoint with its tokenizer)")
        pad = o.pad_token_id if o.pad_token_id is not None else (eos[0] if eos else 0)
        return replace(o, eos_token_id=eos, stop=stops, pad_token_id=pad)

    @property
    def rule(self) -> str:
        """The decision rule: a key of `RULES`."""
        if self.num_beams > 1:
            return "beam"
        return "greedy" if not self.do_sample or self.temperature == 0 else "sample"

    @property
    def eos(self) -> tuple[int, ...]:
        return tuple(self.eos_token_id or ())

    @property
    def stops(self) -> tuple[str, ...]:
        return tuple(self.stop or ())


def sampling_options(given: dict[str, Any]) -> dict[str, Any]:
    """Options as a command line states them: any option that shapes a draw (a temperature
    other than 0, top-k, top-p: declared `sampling=True`) means sampling, and `seed` seeds it;
    temperature 0 means greedy, and conflicts with the others."""
    names = [n for n, f in declared(Options).items() if f.metadata.get("sampling")]
    shaping = {n: given.pop(n) for n in names if given.get(n) is not None}
    seed = given.pop("seed", None)
    if shaping.get("temperature") == 0:
        shaping.pop("temperature")
        if shaping:
            raise ValueError(f"{', '.join(shaping).replace('_', '-')} sample; they conflict "
                             f"with temperature 0")
        return given
    return {**given, "do_sample": True, "seed": seed, **shaping} if shaping else given


def _check_prompt(spec: ModelSpec, input_ids: Any, attention_mask: Any,
                  max_new_tokens: Any) -> None:
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.dtype not in (
            torch.long, torch.int):
        raise ValueError("input_ids must be an integer tensor (batch, seq); for text use "
                         "zoo.generate(model, 'prompt')")
    batch, length = input_ids.shape
    if length == 0 or batch == 0:
        raise ValueError("the prompt is empty: generation needs at least one token per row")
    if attention_mask is not None:
        _check_mask(attention_mask, (batch, length))
    check_token_ids(spec, input_ids)
    if length > spec.context_length:
        raise ValueError(f"the prompt has {length} tokens, more than {spec.name}'s context of "
                         f"{spec.context_length}")
    if length + max_new_tokens > spec.context_length:
        raise ValueError(f"{length} prompt tokens + max_new_tokens {max_new_tokens} = "
                         f"{length + max_new_tokens} would run past {spec.name}'s context of "
                         f"{spec.context_length}; ask for at most "
                         f"{spec.context_length - length} new tokens")


def _check_mask(mask: Any, shape: tuple[int, int]) -> None:
    """1 for a token, 0 for padding, and the padding on the left: new tokens are appended after
    the last position, so a right-padded row would continue from its padding."""
    if not isinstance(mask, Tensor) or tuple(mask.shape) != shape:
        raise ValueError(f"attention_mask must be a tensor of the shape of input_ids {shape}, "
                         f"got {describe(getattr(mask, 'shape', mask))}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("attention_mask must hold only 1 (a token) and 0 (padding)")
    ones = mask.long()
    if not bool(ones.any(-1).all()):
        raise ValueError("a row of attention_mask is all padding: every prompt needs a token")
    right = (ones.diff(dim=-1) < 0).any(-1)
    if bool(right.any()):
        row = int(right.nonzero()[0])
        raise ValueError(f"attention_mask row {row} has padding after a token (right padding); "
                         f"generation continues from the last position, so pad on the left "
                         f"(a tokenizer's padding_side='left'; zoo.generate pads so)")


# --- the model side ---------------------------------------------------------------------------

def grad_free() -> contextlib.AbstractContextManager[Any]:
    """The mode the model runs in while generating: inference mode (no autograd bookkeeping at
    all: on SmolLM2 int4 decoding, about 1 ms a step of 13 less than under no_grad, AMD EPYC),
    or no_grad under torch.distributed (FSDP's parameter hooks are not run in inference mode).
    Entered around each model call only, never across a yield: the caller's own code between
    steps runs in its own mode, and gets normal tensors back from functional ops."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.no_grad()
    return torch.inference_mode()


class Decoder:
    """Runs the model: the prompt once, then one token per step through the KV cache.

    Keeps the attention mask of everything so far when the prompts are padded; without
    padding it passes none, so attention takes its fastest path.
    """

    def __init__(self, model: Scorer, input_ids: Tensor, attention_mask: Tensor | None,
                 max_new_tokens: int, use_cache: bool = True) -> None:
        self.model, self.use_cache = model, use_cache
        batch, length = input_ids.shape
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        self.mask = None
        if padded:
            assert attention_mask is not None
            check_fits(batch * (length + max_new_tokens) * 8,
                       f"the attention mask of {length + max_new_tokens:,} positions for "
                       f"{batch} sequences", input_ids.device)
            self.mask = torch.ones(batch, length + max_new_tokens, dtype=torch.long,
                                   device=input_ids.device)
            self.mask[:, :length] = attention_mask.long()
        self.length = length
        self.capacity = length + max_new_tokens
        self.cache = KVCache(model.spec.n_layer, capacity=self.capacity) if use_cache else None
        self.ids = input_ids
        # longrope switches to its long factors once a sequence is longer than the original
        # context: the keys cached before were rotated with the short ones, so at that step
        # the whole sequence is recomputed (as transformers' Phi-3 drops its cache there)
        scaling = model.spec.rope_scaling
        self.switch = scaling.original_context \
            if scaling is not None and scaling.type == "longrope" else None

    def _mask(self, length: int) -> Tensor | None:
        return None if self.mask is None else self.mask[:, :length]

    def prefill(self) -> Tensor:
        """Next-token logits (batch, vocab) after the prompt."""
        with grad_free():
            return self.model.next_token_logits(self.ids, self._mask(self.length), self.cache)

    def step(self, tokens: Tensor) -> Tensor:
        """Append one token per row; the logits for the token after it."""
        with grad_free():
            return self._step(tokens)

    def _step(self, tokens: Tensor) -> Tensor:
        self.length += 1
        if self.cache is None or self.switch is not None:
            self.ids = torch.cat([self.ids, tokens[:, None]], 1)
        if self.cache is not None and self.length == (self.switch or 0) + 1:
            self.cache = KVCache(self.model.spec.n_layer, capacity=self.capacity)
            return self.model.next_token_logits(self.ids, self._mask(self.length), self.cache)
        if self.cache is not None:
            return self.model.next_token_logits(tokens[:, None], self._mask(self.length),
                                                self.cache)
        return self.model.next_token_logits(self.ids, self._mask(self.length), None)

    def reorder(self, index: Tensor) -> None:
        """Beam search: the rows to continue from, in order."""
        with grad_free():
            self._reorder(index)

    def _reorder(self, index: Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder(index)
        if self.cache is None or self.switch is not None:
            self.ids = self.ids.index_select(0, index)
        if self.mask is not None:
            self.mask = self.mask.index_select(0, index)


# --- decision rules ---------------------------------------------------------------------------

def filter_logits(logits: Tensor, *, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Logits with every token outside the top-k and the top-p nucleus set to -inf.

    top-k keeps the k highest scores (ties with the k-th kept too); top-p keeps the smallest
    set of most likely tokens whose probabilities sum to at least p (always at least one).
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        probs = ordered.softmax(-1)
        before = probs.cumsum(-1) - probs  # probability mass strictly above each token
        drop = before >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def pick_greedy(logits: Tensor, options: Options, generator: torch.Generator | None) -> Tensor:
    """The most likely token of each row."""
    return logits.argmax(-1)


def pick_sample(logits: Tensor, options: Options, generator: torch.Generator | None) -> Tensor:
    """A draw from each row's tempered, filtered distribution. Scores are shifted to a
    maximum of 0 and divided in float64, so any temperature > 0 works: a tiny one only pushes
    every score but the best to -inf (greedy, ties drawn at random), never to NaN."""
    scores = logits.double()
    scores = (scores - scores.amax(-1, keepdim=True)) / options.temperature
    logits = filter_logits(scores, top_k=options.top_k, top_p=options.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


class StopStrings:
    """Which rows' text now contains a stop string (decoding only a recent window)."""

    def __init__(self, stops: tuple[str, ...], tokenizer: Tokenizer | None, batch: int) -> None:
        self.stops, self.tokenizer = stops, tokenizer
        self.rows: list[list[int]] = [[] for _ in range(batch)]
        # enough tokens to hold the longest stop string even at one character per token
        self.window = max((len(s) for s in stops), default=0) + 8

    def check(self, generated: Sequence[Sequence[int]]) -> list[bool]:
        """For each row's generated ids, whether its text contains a stop string."""
        if not self.stops or self.tokenizer is None:
            return [False] * len(generated)
        tails = (self.tokenizer.decode(list(ids[-self.window:])) for ids in generated)
        return [any(s in tail for s in self.stops) for tail in tails]

    def hits(self, tokens: Sequence[int]) -> list[bool]:
        """Append one token per row (sampling and greedy keep the rows here) and check."""
        for row, token in zip(self.rows, tokens, strict=True):
            row.append(int(token))
        return self.check(self.rows)


Pick = Callable[[Tensor, Options, "torch.Generator | None"], Tensor]
Steps = Generator[list[list[int]], None, Tensor]


def token_steps(pick: Pick, model: Scorer, input_ids: Tensor, attention_mask: Tensor | None,
                options: Options, tokenizer: Tokenizer | None) -> Steps:
    """One token per row per step, chosen by `pick` (greedy or sampled). Yields each row's new
    token ([] once the row has finished: it then gets the pad token); returns the ids."""
    generator = None
    if options.seed is not None:
        generator = torch.Generator(device=input_ids.device).manual_seed(options.seed)
    decoder = Decoder(model, input_ids, attention_mask, options.max_new_tokens,
                      options.use_cache)
    batch = input_ids.shape[0]
    live = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
    eos = torch.tensor(options.eos, dtype=torch.long, device=input_ids.device)
    stops = StopStrings(options.stops, tokenizer, batch)
    steps = []
    logits = decoder.prefill()
    for step in range(options.max_new_tokens):
        tokens = pick(logits, options, generator).masked_fill(~live, options.pad_token_id)
        steps.append(tokens)
        yield [[value] if alive else [] for value, alive in
               zip(tokens.tolist(), live.tolist(), strict=True)]
        ended = torch.isin(tokens, eos)
        if options.stops:
            ended |= torch.tensor(stops.hits(tokens.tolist()), device=tokens.device)
        live = live & ~ended
        if step == options.max_new_tokens - 1 or not bool(live.any()):
            break
        logits = decoder.step(tokens)
    return torch.cat([input_ids, torch.stack(steps, 1)], 1)


# --- beam search ------------------------------------------------------------------------------

NEG = -1.0e9


def beam_steps(model: Scorer, input_ids: Tensor, attention_mask: Tensor | None,
               options: Options, tokenizer: Tokenizer | None) -> Steps:
    """Beam search, as transformers does it (length-normalised finished hypotheses, the same
    early-stopping heuristic). Yields, per row, the tokens every live beam now agrees on, and
    at the end the rest of the best hypothesis; returns the final ids (batch, total).
    """
    batch, prompt = input_ids.shape
    beams, vocab = options.num_beams, model.spec.vocab_size
    device = input_ids.device
    total = prompt + options.max_new_tokens
    # enough candidates that `beams` of them go on even if the rest end (at most all of them)
    keep = min(max(2, 1 + len(options.eos)) * beams, beams * vocab)
    expand = torch.arange(batch, device=device).repeat_interleave(beams)
    mask = attention_mask.index_select(0, expand) if attention_mask is not None else None
    decoder = Decoder(model, input_ids.index_select(0, expand), mask, options.max_new_tokens,
                      options.use_cache)
    running = torch.full((batch, beams, total), options.pad_token_id, dtype=torch.long,
                         device=device)
    running[:, :, :prompt] = input_ids[:, None]
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = NEG
    finished = running.clone()
    finished_scores = torch.full((batch, beams), NEG, device=device)
    finished_lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    is_finished = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, 1, dtype=torch.bool, device=device)
    top_ranks = torch.arange(keep, device=device) < beams
    eos = torch.tensor(options.eos, dtype=torch.long, device=device)
    stops = StopStrings(options.stops, tokenizer, 0)
    agreed = [0] * batch
    rows = torch.arange(batch, device=device)[:, None]
    logits = decoder.prefill()
    length = prompt
    while True:
        scores = F.log_softmax(logits.float(), -1).view(batch, beams, vocab)
        scores = (scores + running_scores[:, :, None]).view(batch, beams * vocab)
        top_scores, top_index = torch.topk(scores, keep, dim=-1)
        source, tokens = top_index // vocab, top_index % vocab
        candidates = running[rows, source]  # (batch, keep, total)
        candidates[:, :, length] = tokens
        hits = torch.isin(tokens, eos) if options.eos else \
            torch.zeros_like(tokens, dtype=torch.bool)
        if options.stops:
            generated = candidates[:, :, prompt:length + 1].reshape(batch * keep, -1)
            hits |= torch.tensor(stops.check(generated.tolist()),
                                 device=device).view(batch, keep)
        if length + 1 >= total:
            hits = torch.ones_like(hits)
        # the best candidates that go on
        going = top_scores + hits.float() * NEG
        next_rank = torch.topk(going, beams, dim=-1).indices
        running = candidates[rows, next_rank]
        running_scores = going.gather(1, next_rank)
        chosen_source = source.gather(1, next_rank)
        # the best candidates that end here join the finished hypotheses
        just = hits & top_ranks
        normalised = top_scores / ((length + 1 - prompt) ** options.length_penalty)
        full = is_finished.all(-1, keepdim=True) & (options.early_stopping is True)
        normalised = normalised + full.float() * NEG + (~improvable).float() * NEG
        normalised = normalised + (~just).float() * NEG
        merged_scores = torch.cat([finished_scores, normalised], 1)
        best = torch.topk(merged_scores, beams, dim=-1).indices
        merged = torch.cat([finished, candidates], 1)
        merged_lengths = torch.cat([finished_lengths, torch.full_like(
            normalised, length + 1, dtype=torch.long)], 1)
        finished = merged[rows, best]
        finished_scores = merged_scores.gather(1, best)
        finished_lengths = merged_lengths.gather(1, best)
        is_finished = torch.cat([is_finished, just], 1).gather(1, best)
        length += 1
        # stream what every live beam agrees on
        yield _agreed_tokens(running, agreed, prompt, length)
        # can anything still improve?
        if options.early_stopping == "never" and options.length_penalty > 0:
            horizon = total - prompt
        else:
            horizon = length - prompt
        best_possible = running_scores[:, :1] / (horizon ** options.length_penalty)
        worst = torch.where(is_finished, finished_scores.min(-1, keepdim=True).values,
                            torch.full_like(finished_scores, NEG))
        improvable = improvable & (best_possible > worst).any(-1, keepdim=True)
        all_full = bool(is_finished.all()) and options.early_stopping is True
        if not bool(improvable.any()) or all_full or bool(hits.all()):
            break
        flat = (chosen_source + torch.arange(batch, device=device)[:, None] * beams)
        decoder.reorder(flat.flatten())
        logits = decoder.step(running[:, :, length - 1].flatten())
    out_length = prompt + int((finished_lengths[:, 0] - prompt).max())
    result = finished[:, 0, :out_length]
    yield [result[b, prompt + agreed[b]:int(finished_lengths[b, 0])].tolist()
           for b in range(batch)]
    return result


def _agreed_tokens(running: Tensor, agreed: list[int], prompt: int,
                   length: int) -> list[list[int]]:
    """Per row, the new tokens on which all live beams agree (and that were not yet yielded)."""
    out = []
    for b in range(running.shape[0]):
        rows = running[b, :, prompt:length]
        same = (rows == rows[:1]).all(0)
        n = int(same.long().cumprod(0).sum()) if same.numel() else 0
        out.append(rows[0, agreed[b]:n].tolist() if n > agreed[b] else [])
        agreed[b] = max(agreed[b], n)
    return out


# --- the public entry points -------------------------------------------------------------------

RULES: dict[str, Callable[..., Steps]] = {
    "greedy": partial(token_steps, pick_greedy),
    "sample": partial(token_steps, pick_sample),
    "beam": beam_steps,
}


def run(model: Scorer, input_ids: Tensor, attention_mask: Tensor | None, options: Options,
        tokenizer: Tokenizer | None = None) -> Steps:
    """The steps of the rule the options choose (options already checked: `Options.check`)."""
    return RULES[options.rule](model, input_ids, attention_mask, options, tokenizer)


def final_ids(steps: Steps) -> Tensor:
    """Run the steps to the end; the prompt followed by the generated ids."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def generate_ids(model: Scorer, input_ids: Tensor, attention_mask: Tensor | None = None,
                 tokenizer: Tokenizer | None = None, **options: Any) -> Tensor:
    """The prompt followed by the generated ids (batch x total length); see `Options`."""
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    checked = Options.check(model.spec, input_ids, attention_mask, tokenizer, **options)
    return final_ids(run(model, input_ids, attention_mask, checked, tokenizer))


def stream_ids(model: Scorer, input_ids: Tensor, attention_mask: Tensor | None = None,
               tokenizer: Tokenizer | None = None,
               **options: Any) -> Iterator[list[list[int]]]:
    """Per step, each row's newly settled tokens (see Model.stream). The options are checked
    at the call, before the first token is asked for."""
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    checked = Options.check(model.spec, input_ids, attention_mask, tokenizer, **options)
    return (settled for settled in run(model, input_ids, attention_mask, checked, tokenizer))
