"""Generation: the same tokens as transformers for every family, the decision rules exact,
bad calls refused before any compute, and the real SmolLM2 answering."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.tiny import FAMILIES, hf_model, tiny_spec, zoo_from_hf
from zoo.model.generation import Decoder, _agreed_tokens, filter_logits

transformers = pytest.importorskip("transformers")


def prompts(vocab: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 9), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    mask[2, :5] = 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.fixture(scope="module", params=list(FAMILIES))
def pair(request):
    spec = tiny_spec(request.param)
    hf = hf_model(spec)
    return request.param, hf, zoo_from_hf(spec, hf)


def hf_generate(hf, ids, mask, **kwargs):
    with torch.no_grad():
        return hf.generate(ids, attention_mask=mask, do_sample=False, **kwargs)


def test_greedy_equals_transformers(pair):
    label, hf, model = pair
    ids, mask = prompts(97)
    ours = model.generate(ids, attention_mask=mask, max_new_tokens=12)
    theirs = hf_generate(hf, ids, mask, max_new_tokens=12, pad_token_id=0, eos_token_id=None)
    assert torch.equal(ours, theirs), label
    single = model.generate(ids[:1], max_new_tokens=12)  # no padding at all
    assert torch.equal(single, ours[:1]), label
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=12,
                                      use_cache=False), ours), label


def test_greedy_stops_at_eos_like_transformers(pair):
    label, hf, model = pair
    ids, mask = prompts(97, seed=1)
    free = model.generate(ids, attention_mask=mask, max_new_tokens=10)
    eos = int(free[0, ids.shape[1] + 3])  # a token row 0 produces: it must stop there
    ours = model.generate(ids, attention_mask=mask, max_new_tokens=10, eos_token_id=eos,
                          pad_token_id=1)
    theirs = hf_generate(hf, ids, mask, max_new_tokens=10, eos_token_id=eos, pad_token_id=1)
    assert torch.equal(ours, theirs), label
    row = ours[0, ids.shape[1]:].tolist()
    assert eos in row and all(t == 1 for t in row[row.index(eos) + 1:])


def test_beam_search_equals_transformers(pair):
    label, hf, model = pair
    ids, mask = prompts(97, seed=2)
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=8)
    eos = int(greedy[1, ids.shape[1] + 2])
    for penalty, early in ((1.0, False), (0.5, True), (2.0, "never")):
        ours = model.generate(ids, attention_mask=mask, max_new_tokens=8, num_beams=4,
                              eos_token_id=eos, length_penalty=penalty, early_stopping=early)
        theirs = hf_generate(hf, ids, mask, max_new_tokens=8, num_beams=4, eos_token_id=eos,
                             pad_token_id=eos, length_penalty=penalty, early_stopping=early)
        assert torch.equal(ours, theirs), (label, penalty, early)
    nocache = model.generate(ids, attention_mask=mask, max_new_tokens=8, num_beams=4,
                             eos_token_id=eos, use_cache=False)
    assert torch.equal(nocache, model.generate(ids, attention_mask=mask, max_new_tokens=8,
                                               num_beams=4, eos_token_id=eos))


def test_stream_concatenates_to_generate():
    spec = tiny_spec("llama")
    model = zoo_from_hf(spec, hf_model(spec))
    ids, mask = prompts(97, seed=3)
    for options in ({}, {"do_sample": True, "top_k": 20, "seed": 5},
                    {"num_beams": 3, "eos_token_id": 7}):
        full = model.generate(ids, attention_mask=mask, max_new_tokens=9, **options)
        rows = [[] for _ in range(3)]
        for step in model.stream(ids, attention_mask=mask, max_new_tokens=9, **options):
            for row, tokens in zip(rows, step, strict=True):
                row.extend(tokens)
        for b in range(3):
            generated = full[b, ids.shape[1]:].tolist()
            assert rows[b] == generated[:len(rows[b])], options
            assert all(t == (options.get("eos_token_id") or 0)
                       for t in generated[len(rows[b]):]), options


def test_the_callers_code_between_steps_keeps_its_own_grad_mode():
    """The model runs in inference mode, entered around each call only: between streamed
    steps the caller's autograd is on, the ids it gets back are normal tensors, and the same
    model trains afterwards (its rotary tables and kernel choices are normal tensors)."""
    spec = tiny_spec("llama")
    model = zoo.create_model(spec, seed=0)
    ids, mask = prompts(spec.vocab_size, seed=3)
    for options in ({}, {"num_beams": 2}):
        for _ in model.stream(ids, attention_mask=mask, max_new_tokens=3, **options):
            assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        out = model.generate(ids, attention_mask=mask, max_new_tokens=3, **options)
        assert not out.is_inference()
        out[:, -1] = 0  # an in-place write: an inference tensor would refuse it
    model.train()
    loss = model.loss(ids)
    loss.backward()
    assert model.embed.weight.grad is not None


def test_beams_stream_what_they_agree_on():
    running = torch.tensor([[[9, 9, 1, 2, 3], [9, 9, 1, 2, 4], [9, 9, 1, 5, 6]]])
    agreed = [0]
    assert _agreed_tokens(running, agreed, prompt=2, length=5) == [[1]]
    assert _agreed_tokens(running, agreed, prompt=2, length=5) == [[]], "yielded only once"
    running[0, 2, 3:] = torch.tensor([2, 7])
    assert _agreed_tokens(running, agreed, prompt=2, length=5) == [[2]]


# --- the decision rules ----------------------------------------------------------------------

def kept(logits):
    return set(torch.nonzero(torch.isfinite(logits)).flatten().tolist())


def test_top_k_support():
    logits = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0])
    assert kept(filter_logits(logits, top_k=2)) == {1, 3}
    assert kept(filter_logits(logits, top_k=1)) == {1}
    assert kept(filter_logits(logits, top_k=10)) == set(range(5))
    tied = torch.tensor([3.0, 3.0, 1.0])
    assert kept(filter_logits(tied, top_k=1)) == {0, 1}, "ties with the k-th are kept"


def test_top_p_support():
    probs = torch.tensor([0.5, 0.25, 0.15, 0.07, 0.03])
    logits = probs.log()
    assert kept(filter_logits(logits, top_p=0.5)) == {0}
    assert kept(filter_logits(logits, top_p=0.6)) == {0, 1}
    assert kept(filter_logits(logits, top_p=0.85)) == {0, 1, 2}
    assert kept(filter_logits(logits, top_p=0.95)) == {0, 1, 2, 3}
    assert kept(filter_logits(logits, top_p=1.0)) == set(range(5))
    assert kept(filter_logits(logits, top_p=0.01)) == {0}, "at least one token"
    shuffled = logits[[3, 0, 4, 2, 1]]
    assert kept(filter_logits(shuffled, top_p=0.6)) == {1, 4}
    assert kept(filter_logits(logits, top_k=2, top_p=0.95)) == {0, 1}
    batch = torch.stack([logits, logits.flip(0)])
    out = filter_logits(batch, top_p=0.6)
    assert kept(out[0]) == {0, 1} and kept(out[1]) == {3, 4}


def test_sampling_is_seeded_and_reproducible():
    spec = tiny_spec("gpt2")
    model = zoo.create_model(spec, seed=0).eval()
    ids = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(0))
    a = model.generate(ids, max_new_tokens=20, do_sample=True, seed=11)
    b = model.generate(ids, max_new_tokens=20, do_sample=True, seed=11)
    c = model.generate(ids, max_new_tokens=20, do_sample=True, seed=12)
    assert torch.equal(a, b) and not torch.equal(a, c)
    greedy = model.generate(ids, max_new_tokens=20)
    assert torch.equal(model.generate(ids, max_new_tokens=20, do_sample=True, temperature=0),
                       greedy), "temperature 0 is greedy"
    top1 = model.generate(ids, max_new_tokens=20, do_sample=True, top_k=1, seed=3)
    assert torch.equal(top1, greedy)


# --- bad calls fail before any compute -------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"max_new_tokens": 60}, "would run past tiny-gpt2's context of 64"),
    ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
    ({"max_new_tokens": 5, "top_k": 3}, "top_k only applies when sampling; .* leave it out"),
    ({"max_new_tokens": 5, "temperature": 0.7, "top_p": 0.5},
     "temperature, top_p only apply when sampling; .* leave them out"),
    ({"max_new_tokens": 5, "do_sample": True, "num_beams": 2}, "conflict"),
    ({"max_new_tokens": 5, "length_penalty": 0.5}, "only applies to beam search"),
    ({"max_new_tokens": 5, "do_sample": True, "top_p": 1.5}, "top_p must be in"),
    ({"max_new_tokens": 5, "do_sample": True, "temperature": -1.0}, "temperature must be"),
    ({"max_new_tokens": 5, "stop": "\n"}, "stop strings need a tokenizer"),
    ({"max_new_tokens": 5, "eos_token_id": 500},
     "eos_token_id must be an integer within 0..96 (the vocabulary of 97), got 500"),
    ({"max_new_tokens": 5, "num_beams": 65}, "num_beams must be an integer within 1..64 (each "
                                             "beam keeps its own KV cache), got 65"),
    ({"max_new_tokens": 5, "pad_token_id": -1}, "pad_token_id must be an integer within 0..96"),
    ({"max_new_tokens": 5, "num_beams": 2, "length_penalty": float("nan")},
     "length_penalty must be a finite number, got nan"),
    ({"max_new_tokens": 5, "do_sample": True, "temperature": "0.7"},
     "temperature must be a finite number, got '0.7'"),
    ({"max_new_tokens": "5"}, "max_new_tokens must be an integer, got '5'"),
    ({"max_new_tokens": 5, "num_beams": "4"}, "num_beams must be an integer, got '4'"),
    ({"max_new_tokens": 5, "num_beams": 2.0}, "num_beams must be an integer, got 2.0"),
    ({"max_new_tokens": 5, "do_sample": "yes"}, "do_sample must be True or False, got 'yes'"),
    ({"max_new_tokens": 5, "eos_token_id": "2"}, "eos_token_id must be an integer, got '2'"),
    ({"max_new_tokens": 5, "eos_token_id": True}, "eos_token_id must be one of token ids"),
    ({"max_new_tokens": 5, "eos_token_id": 2.0}, "eos_token_id must be one of token ids"),
    ({"max_new_tokens": 5, "stop": 3}, "stop must be a string or a list of strings"),
    ({"max_new_tokens": 5, "do_sample": True, "seed": -1}, "seed must be an integer within"),
    ({"max_new_tokens": 5, "early_stopping": 1}, "early_stopping must be True, False or"),
    ({"max_new_tokens": 5, "attention_mask": torch.tensor([[1] * 8 + [0, 0]])},
     "attention_mask row 0 has padding after a token (right padding); .* pad on the left"),
    ({"max_new_tokens": 5, "attention_mask": torch.tensor([[1, 0] * 5])}, "right padding"),
    ({"max_new_tokens": 5, "attention_mask": torch.full((1, 10), 2)},
     "attention_mask must hold only 1 .* and 0"),
    ({"max_new_tokens": 5, "attention_mask": torch.full((1, 10), 0.5)}, "only 1 .* and 0"),
    ({"max_new_tokens": 5, "attention_mask": [[1] * 10]}, "attention_mask must be a tensor"),
])
def test_bad_calls_fail_before_compute(kwargs, fragment, monkeypatch):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)

    def no_compute(*args, **kw):
        raise AssertionError("computed before checking the call")

    monkeypatch.setattr(model, "hidden_states", no_compute)
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        model.generate(torch.zeros(1, 10, dtype=torch.long), **kwargs)


def test_bad_inputs(monkeypatch):
    model = zoo.create_model(tiny_spec("gpt2"), seed=0)
    with pytest.raises(ValueError, match="prompt has 70 tokens"):
        model.generate(torch.zeros(1, 70, dtype=torch.long), max_new_tokens=1)
    with pytest.raises(ValueError, match="outside tiny-gpt2's vocabulary"):
        model.generate(torch.tensor([[1, 200]]), max_new_tokens=1)
    with pytest.raises(ValueError, match="all padding"):
        model.generate(torch.tensor([[1, 2]]), attention_mask=torch.tensor([[0, 0]]),
                       max_new_tokens=1)


# --- the real checkpoint ---------------------------------------------------------------------

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_smollm2_answers_paris(smollm2):
    answer = zoo.generate(smollm2, "What is the capital of France?", chat=True,
                          max_new_tokens=30)
    assert "Paris" in answer, answer
    beams = zoo.generate(smollm2, "What is the capital of France?", chat=True,
                         max_new_tokens=30, num_beams=3)
    assert "Paris" in beams, beams


def test_smollm2_greedy_ids_equal_transformers(smollm2, smollm2_hf):
    tok = smollm2.tokenizer
    ids = torch.tensor([tok.encode(tok.apply_chat_template(QUESTION))])
    ours = smollm2.generate(ids, max_new_tokens=24, eos_token_id=tok.eos_token_id)
    theirs = hf_generate(smollm2_hf, ids, torch.ones_like(ids), max_new_tokens=24,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    assert torch.equal(ours, theirs)


def test_smollm2_stop_strings_and_streaming(smollm2):
    text = zoo.generate(smollm2, "Count: one, two, three, four,", max_new_tokens=20,
                        stop=[" six"])
    assert "six" not in text and "five" in text, text
    beams = zoo.generate(smollm2, "Count: one, two, three, four,", max_new_tokens=20,
                         stop=[" six"], num_beams=3)
    assert "six" not in beams and "five" in beams, beams
    pieces = list(zoo.generate(smollm2, "What is the capital of France?", chat=True,
                               max_new_tokens=30, stream=True))
    assert len(pieces) > 3 and "Paris" in "".join(pieces)
    assert "".join(pieces) == zoo.generate(smollm2, "What is the capital of France?",
                                           chat=True, max_new_tokens=30)


def test_smollm2_batch_of_prompts(smollm2):
    answers = zoo.generate(smollm2, ["What is the capital of France?",
                                     "What is the capital of Italy? Answer briefly."],
                           chat=True, max_new_tokens=20)
    alone = zoo.generate(smollm2, "What is the capital of France?", chat=True,
                         max_new_tokens=20)
    assert answers[0] == alone and "Rome" in answers[1]


def test_cli_generate(smollm2_path, capsys):
    from zoo.cli import main

    assert main(["generate", str(smollm2_path), "--prompt", "What is the capital of France?",
                 "--chat", "--max-new-tokens", "20"]) == 0
    assert "Paris" in capsys.readouterr().out
    assert main(["generate", str(smollm2_path), "--prompt", "Hi", "--temperature", "0",
                 "--top-k", "5"]) == 2


# --- edges that once failed mid-way, now exact ---------------------------------------------------

def test_tiny_temperatures_sample_the_best_token():
    """A temperature of 1e-45 (or the smallest double) is the greedy limit, not NaN."""
    model = zoo.create_model(tiny_spec("gpt2"), seed=0).eval()
    ids = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(0))
    greedy = model.generate(ids, max_new_tokens=8)
    for temperature in (1e-45, 5e-324):
        assert torch.equal(model.generate(ids, max_new_tokens=8, do_sample=True,
                                          temperature=temperature, seed=0), greedy)


def test_beams_with_a_vocabulary_of_one():
    model = zoo.create_model(tiny_spec("llama").with_changes(vocab_size=1), seed=0).eval()
    ids = torch.zeros(2, 3, dtype=torch.long)
    assert torch.equal(model.generate(ids, max_new_tokens=4, num_beams=3),
                       torch.zeros(2, 7, dtype=torch.long))


def test_beams_with_many_eos_ids():
    """Repeated eos ids count once; every token an eos id ends every row at its first token."""
    model = zoo.create_model(tiny_spec("gpt2"), seed=0).eval()
    ids, mask = prompts(97)
    once = model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3,
                          eos_token_id=5)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3,
                                      eos_token_id=[5] * 1000), once)
    every = list(range(97))
    beams = model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3,
                           eos_token_id=every)
    assert torch.equal(beams, model.generate(ids, attention_mask=mask, max_new_tokens=6,
                                             eos_token_id=every))
    assert beams.shape == (3, 10)


# --- fuzz: whatever the options, a result or a ValueError ---------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.integers(),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                     st.lists(st.integers(-2, 120), max_size=3),
                     st.sampled_from(["never", 0.5, 1e-45, [], ["a", ""], (2,), -0.0]))
FUZZ_MODEL = {}


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.dictionaries(st.sampled_from(
    ["max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "num_beams",
     "length_penalty", "early_stopping", "eos_token_id", "pad_token_id", "stop", "seed",
     "use_cache"]), ANYTHING, max_size=5), st.integers(1, 3))
def test_fuzzed_options_give_tokens_or_a_value_error(options, new_tokens):
    if not FUZZ_MODEL:
        FUZZ_MODEL["m"] = zoo.create_model(tiny_spec("gpt2").with_changes(n_layer=1),
                                           seed=0).eval()
    model = FUZZ_MODEL["m"]
    options.setdefault("max_new_tokens", new_tokens)
    if isinstance(options["max_new_tokens"], int) and options["max_new_tokens"] > 4:
        options["max_new_tokens"] = 4  # small, to stay fast; larger ones are checked the same
    ids = torch.tensor([[3, 4, 5], [6, 7, 8]])
    try:
        out = model.generate(ids, **options)
    except ValueError:
        return
    assert out.shape[0] == 2 and out.dtype == torch.long
    assert bool((out >= 0).all() and (out < 97).all())


def test_longrope_recomputes_the_cache_where_it_switches():
    """Keys cached with longrope's short factors are stale once the sequence passes the
    original context: at that step the decoder recomputes them (as transformers' Phi-3 drops
    its cache), so every later step equals the full recompute with the long factors."""
    spec = tiny_spec("phi3-longrope")
    model = zoo.create_model(spec, seed=0).eval()
    ids = torch.randint(0, spec.vocab_size, (1, 14), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        decoder = Decoder(model, ids[:, :9], None, max_new_tokens=5)
        decoder.prefill()
        for t in range(9, 14):
            logits = decoder.step(ids[:, t])
        assert (logits - model.next_token_logits(ids)).abs().max() <= 1e-5


@pytest.mark.parametrize(("prompt", "error", "fragment"), [
    (None, TypeError, "prompt must be a string or a list of strings, got NoneType"),
    (5, TypeError, "got int"),
    (["a", 3], TypeError, "got list"),
    ([], ValueError, "no prompt given"),
])
def test_a_prompt_that_is_not_text_is_refused_by_name(prompt, error, fragment):
    from zoo.testing import byte_tokenizer

    model = zoo.create_model(tiny_spec("gpt2"), seed=0).eval()
    with pytest.raises(error, match=fragment):
        zoo.generate(model, prompt, tokenizer=byte_tokenizer(), max_new_tokens=1)
