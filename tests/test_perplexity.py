"""Sliding-window perplexity: every token scored once, and transformers' loss on the same
windows, for tiny models and for the real SmolLM2-135M-Instruct."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import zoo
from zoo.perplexity import evaluate, evaluate_ids, windows
from zoo.testing import byte_tokenizer, hf_model, tiny_spec, zoo_from_hf

TEXT = (Path(__file__).parent / "data" / "harbour.txt").read_text()


def transformers_nll(hf, ids: torch.Tensor, context: int, stride: int) -> tuple[float, int]:
    """The loop of transformers' perplexity guide, on transformers' own model: windows start
    every `stride` tokens, the labels before the window's new tokens are -100, and the model's
    mean loss is weighted by the tokens it scored (the labels left after its internal shift;
    the guide's `num_valid_tokens - batch_size` is that count only in the first window)."""
    nll, scored, prev_end = 0.0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + context, len(ids))
        window = ids[begin:end][None]
        labels = window.clone()
        labels[:, :-(end - prev_end)] = -100
        with torch.no_grad():
            loss = hf(window, labels=labels).loss
        n = int((labels[:, 1:] != -100).sum())
        nll, scored, prev_end = nll + float(loss) * n, scored + n, end
        if end == len(ids):
            break
    return nll, scored


@pytest.mark.parametrize(("n", "context"), [(2, 2), (3, 2), (10, 4), (64, 64), (65, 64),
                                            (200, 7), (1000, 64)])
def test_windows_score_every_token_once(n, context):
    for stride in range(1, context):
        plan = windows(n, context, stride)
        scored = [t for w in plan for t in range(w.first, w.end)]
        assert scored == list(range(1, n)), (n, context, stride)  # each once, in order
        assert plan[0].begin == 0 and plan[-1].end == n
        for k, w in enumerate(plan):
            assert w.begin == k * stride and w.end - w.begin <= context
            assert w.begin < w.first  # every scored token has some left context
            if k:  # after the first window: at least context - stride tokens of it
                assert w.first - w.begin >= min(context - stride, w.end - w.begin - 1)


@pytest.mark.parametrize(("args", "fragment"), [
    ((100, 64, 64), "stride must be between 1 and context - 1 = 63"),
    ((100, 64, 0), "stride must be between"),
    ((100, 1, 1), "context must be at least 2"),
    ((1, 64, 32), "needs at least 2"),
])
def test_bad_windows(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        windows(*args)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny(request):
    spec = tiny_spec(request.param).with_changes(vocab_size=256, context_length=256)
    hf = hf_model(spec)
    return zoo_from_hf(spec, hf), hf


def test_tiny_model_agrees_with_transformers(tiny):
    model, hf = tiny
    tokenizer = byte_tokenizer()
    ids = torch.tensor(tokenizer.encode(TEXT))
    assert len(ids) == len(TEXT.encode())
    context = 256
    for stride, batch in ((96, 4), (255, 1)):
        ours = evaluate(model, TEXT, tokenizer=tokenizer, context=context, stride=stride,
                        batch=batch, progress=False)
        nll, scored = transformers_nll(hf, ids, context, stride)
        assert ours.scored == scored == len(ids) - 1
        assert ours.windows == len(windows(len(ids), context, stride))
        assert ours.loss == pytest.approx(nll / scored, rel=1e-4), (stride, batch)
        assert ours.perplexity == pytest.approx(math.exp(nll / scored), rel=1e-4)


def test_batching_and_stride(tiny):
    model, _ = tiny
    ids = byte_tokenizer().encode(TEXT)[:700]
    one = evaluate_ids(model, ids, context=64, stride=16, batch=1, progress=False)
    many = evaluate_ids(model, ids, context=64, stride=16, batch=7, progress=False)
    assert many.loss == pytest.approx(one.loss, rel=1e-6) and many.scored == one.scored == 699
    disjoint = evaluate_ids(model, ids, context=64, stride=63, progress=False)
    assert disjoint.windows < one.windows and disjoint.loss != pytest.approx(one.loss, rel=1e-6)
    assert model.training is False


def test_evaluate_errors(tiny):
    model, _ = tiny
    with pytest.raises(ValueError, match=r"longer than tiny-.*'s 256 tokens"):
        evaluate_ids(model, list(range(100)), context=257)
    with pytest.raises(ValueError, match="has no tokenizer"):
        evaluate(model, TEXT)
    with pytest.raises(ValueError, match="dtype: loading options"):
        evaluate(model, TEXT, tokenizer=byte_tokenizer(), dtype="bf16")
    with pytest.raises(ValueError, match="batch must be"):
        evaluate_ids(model, list(range(100)), batch=0)


def test_evaluate_restores_training_mode():
    model = zoo.create_model(tiny_spec("gpt2").with_changes(vocab_size=256), seed=0,
                             dropout=0.1).train()
    evaluate_ids(model, list(range(100)), context=32, stride=16, progress=False)
    assert model.training


def test_real_smollm2_agrees_with_transformers(smollm2, smollm2_hf):
    """SmolLM2-135M-Instruct on the test text: zoo's perplexity is transformers' on the same
    windows (context 512, stride 384: three windows over the text's 1,047 tokens)."""
    ids = torch.tensor(smollm2.tokenizer.encode(TEXT))
    ours = evaluate(smollm2, TEXT, context=512, stride=384, batch=2, progress=False)
    nll, scored = transformers_nll(smollm2_hf, ids, 512, 384)
    assert ours.windows == 3
    assert ours.tokens == len(ids) and ours.scored == scored
    assert ours.loss == pytest.approx(nll / scored, rel=1e-4)
    assert 3 < ours.perplexity < 60, ours  # English prose, for a small instruct model


# --- streaming: the text is encoded in pieces and scored as the windows need it -----------------

@pytest.fixture(scope="module")
def tiny_llama():
    return zoo.create_model(tiny_spec("llama").with_changes(vocab_size=256, context_length=256),
                            seed=0)


def test_streamed_text_scores_exactly_as_the_whole_ids(tiny_llama, monkeypatch):
    """Pieces of 300 characters (the default is 16,384) give the same ids, so the same loss to
    the last bit, as encoding the whole text and scoring its ids."""
    tokenizer, text = byte_tokenizer(), TEXT[:1500]
    whole = evaluate_ids(tiny_llama, tokenizer.encode(text), context=64, stride=56, batch=4,
                         progress=False)
    monkeypatch.setattr("zoo.tokenizer.ENCODE_CHUNK", 300)
    streamed = evaluate(tiny_llama, text, tokenizer=tokenizer, context=64, stride=56, batch=4,
                        progress=False)
    assert (streamed.loss, streamed.tokens, streamed.scored, streamed.windows) == (
        whole.loss, whole.tokens, whole.scored, whole.windows)
    ids = iter(tokenizer.encode(text))  # any iterable of ids
    assert evaluate_ids(tiny_llama, ids, context=64, stride=56, batch=4,
                        progress=False).loss == whole.loss


def test_memory_is_bounded_by_the_windows_not_the_text(tiny_llama, monkeypatch):
    """200,000 bytes of text: every id at once was a list of 200,000 (1.6 MB of pointers, and
    the tokenizer's own copy beside it: 1.4 GB for 5 MB of text); streamed in pieces of 1,024
    characters, Python holds a piece's ids and a batch of windows (the model's compute is left
    out here: it is the same either way)."""
    import tracemalloc

    monkeypatch.setattr("zoo.perplexity._summed_nll", lambda model, inputs, targets: 1.0)
    monkeypatch.setattr("zoo.tokenizer.ENCODE_CHUNK", 1024)
    text = TEXT * (200_000 // len(TEXT))
    tracemalloc.start()
    try:
        result = evaluate(tiny_llama, text, tokenizer=byte_tokenizer(), context=256,
                          stride=255, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.tokens == len(text.encode())
    assert peak < 500_000, f"{peak:,} bytes at the peak"


def test_a_text_file_scores_as_its_string(tiny_llama, monkeypatch, tmp_path):
    """`zoo eval` reads the file a window at a time (zoo.files.text.TextFile): the same ids,
    so the same loss to the last bit, as the whole string."""
    from zoo.files.text import TextFile

    monkeypatch.setattr("zoo.tokenizer.ENCODE_CHUNK", 300)
    monkeypatch.setattr("zoo.files.text.BLOCK", 1000)
    path = tmp_path / "harbour.txt"
    path.write_text(TEXT[:3000].replace("\n", "\r\n"))
    tokenizer = byte_tokenizer()
    from_string = evaluate(tiny_llama, path.read_text(), tokenizer=tokenizer, context=64,
                           stride=56, progress=False)
    from_file = evaluate(tiny_llama, TextFile(path), tokenizer=tokenizer, context=64, stride=56,
                         progress=False)
    assert (from_file.loss, from_file.tokens, from_file.windows) == (
        from_string.loss, from_string.tokens, from_string.windows)
