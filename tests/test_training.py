"""Fine-tuning: the schedule, the loop learning, checkpoints that resume exactly, classifiers."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest
import torch

import zoo
from zoo.perplexity import evaluate
from zoo.testing import byte_tokenizer, tiny_spec
from zoo.training import Settings, finetune, native_bf16, read_labels, with_classifier

DATA = Path(__file__).parent / "data"
TEXT = (DATA / "harbour.txt").read_text()
FAST = {"lr": 3e-3, "batch": 4, "context": 32}  # a tiny model learns visibly in a few steps


def tiny_model(label: str = "llama") -> zoo.Model:
    model = zoo.create_model(tiny_spec(label).with_changes(vocab_size=256), seed=0)
    model.tokenizer = byte_tokenizer()
    return model


def test_schedule_warms_up_then_decays():
    s = Settings(steps=100, lr=1e-3, warmup=10, min_lr=0.1)
    lrs = [s.lr_at(step) for step in range(100)]
    assert lrs[0] == pytest.approx(1e-3 / 11) and max(lrs) == lrs[10] == 1e-3
    assert all(a < b for a, b in pairwise(lrs[:11]))
    assert all(a > b for a, b in pairwise(lrs[10:]))
    # cosine: halfway through the decay (step 54.5) halfway between the peak and the floor
    assert lrs[-1] == pytest.approx(1e-4) and (lrs[54] + lrs[55]) / 2 == pytest.approx(5.5e-4)
    assert Settings(steps=5, lr=1.0, warmup=0).lr_at(0) == 1.0


def test_sampling_rate_schedules():
    linear = Settings(steps=11, sampling_rate=0.5)
    assert [linear.sampling_rate_at(s) for s in (0, 5, 10)] == [0.0, 0.25, 0.5]
    constant = Settings(steps=11, sampling_rate=0.5, sampling_schedule="constant")
    assert {constant.sampling_rate_at(s) for s in range(11)} == {0.5}


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"steps": 0}, "steps must be a positive number"),
    ({"steps": 5, "warmup": 6}, r"warmup must be between 0 and steps \(5\)"),
    ({"steps": 5, "sampling_rate": 2.0}, "sampling_rate must be a probability"),
    ({"steps": 5, "sampling_schedule": "cosine"}, "linear or constant"),
    ({"steps": 5, "pooling": "first"}, "last or mean or max"),
    ({"steps": 5, "lr": 0}, "lr must be positive"),
])
def test_bad_settings(fields, fragment):
    with pytest.raises(ValueError, match=fragment):
        Settings(**fields)


def test_language_model_learns_and_saves_a_loadable_run(tmp_path):
    model = tiny_model()
    before = evaluate(model, TEXT[:1500], context=64, stride=48, progress=False)
    run = finetune(model, TEXT, out=tmp_path / "run", steps=12, warmup=2, progress=False,
                   **FAST)
    losses = [row["loss"] for row in run.history]
    assert run.model is model, "a model passed in is trained in place"
    assert [row["step"] for row in run.history] == list(range(1, 13))
    assert sum(losses[-3:]) / 3 < losses[0] - 1.0, losses  # from ~ln 256 = 5.5, steadily down
    assert all(math.isfinite(row["grad_norm"]) for row in run.history)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert names == {"model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "optimizer.safetensors", "trainer.json", "loss.png"}
    assert run.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((tmp_path / "run" / "trainer.json").read_text())
    assert state["step"] == 12 and state["settings"]["lr"] == 3e-3 and state["task"] == "lm"
    # the folder is a model zoo loads, with its tokenizer, and it has learned the text
    after = evaluate(tmp_path / "run", TEXT[:1500], context=64, stride=48, progress=False)
    assert after.loss < before.loss - 1.0, (before.loss, after.loss)
    saved = zoo.load(tmp_path / "run")
    for (name, ours), theirs in zip(model.state_dict().items(), saved.state_dict().values(),
                                    strict=True):
        assert torch.equal(ours, theirs), name


def test_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    settings = {"steps": 6, "warmup": 2, "sampling_rate": 0.5, "seed": 3, **FAST}
    straight = finetune(tiny_model(), TEXT, out=tmp_path / "straight", progress=False,
                        **settings)

    from zoo import training

    calls = {"n": 0}
    real_loss = training._LanguageModeling.loss

    def crash_at_step_5(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("power cut")
        return real_loss(self, *args, **kwargs)

    monkeypatch.setattr(training._LanguageModeling, "loss", crash_at_step_5)
    with pytest.raises(RuntimeError, match="power cut"):
        finetune(tiny_model(), TEXT, out=tmp_path / "resumed", save_every=2, progress=False,
                 **settings)
    monkeypatch.setattr(training._LanguageModeling, "loss", real_loss)
    state = json.loads((tmp_path / "resumed" / "trainer.json").read_text())
    assert state["step"] == 4  # the checkpoint of step 4 survived the crash in step 5
    resumed = finetune("unused: resumed from the checkpoint", TEXT, out=tmp_path / "resumed",
                       progress=False, **settings)
    assert resumed.resumed_from == 4 and len(resumed.history) == 6
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    a, b = zoo.load(tmp_path / "straight"), zoo.load(tmp_path / "resumed")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    # a finished run resumes to nothing
    again = finetune("unused", TEXT, out=tmp_path / "resumed", progress=False, **settings)
    assert again.resumed_from == 6 and again.history == resumed.history


def test_resume_refuses_other_settings_or_data(tmp_path):
    finetune(tiny_model(), TEXT, out=tmp_path / "run", steps=2, progress=False, **FAST)
    with pytest.raises(ValueError, match=r"steps: the checkpoint has 2, asked 3"):
        finetune(tiny_model(), TEXT, out=tmp_path / "run", steps=3, progress=False, **FAST)
    with pytest.raises(ValueError, match="training data differ"):
        finetune(tiny_model(), TEXT[:2000], out=tmp_path / "run", steps=2, progress=False,
                 **FAST)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a zoo fine-tuning run"):
        finetune(tiny_model(), TEXT, out=tmp_path / "other", steps=2, progress=False, **FAST)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_a_crash_after_the_commit_is_finished_by_the_next_run(tmp_path, monkeypatch):
    """Killed after a checkpoint's commit (its journal in the staging folder) but before its
    files were moved in: the next run finishes the commit and resumes from that checkpoint."""
    from zoo.files.folder import RunFolder

    out, real = tmp_path / "run", RunFolder._recover
    journals = []

    def crash_after_the_second_commit(self):
        if (self.path / ".zoo-staging" / "commit.json").is_file():
            journals.append(self.path)
            if len(journals) >= 2:
                raise OSError("power cut")
        return real(self)

    monkeypatch.setattr(RunFolder, "_recover", crash_after_the_second_commit)
    with pytest.raises(OSError, match="power cut"):
        finetune(tiny_model(), TEXT, out=out, steps=2, save_every=1, progress=False, **FAST)
    monkeypatch.setattr(RunFolder, "_recover", real)
    assert json.loads((out / "trainer.json").read_text())["step"] == 1
    assert (out / ".zoo-staging" / "commit.json").is_file()
    run = finetune("unused", TEXT, out=out, steps=2, save_every=1, progress=False, **FAST)
    assert run.resumed_from == 2 and (out / "trainer.json").is_file()
    assert not (out / ".zoo-staging").exists()


def test_a_run_folder_keeps_what_zoo_did_not_write(tmp_path, monkeypatch):
    """A checkpoint replaces zoo's files only: notes and an eval result in the run folder stay,
    folders beside it named like staging (.run.new, .run.old) are not touched, `out` may be a
    symlink to the folder (and stays one), and a staging folder zoo did not make is refused,
    not deleted."""
    from zoo import training
    from zoo.files.folder import FolderError

    target, out = tmp_path / "runs" / "first", tmp_path / "run"
    target.mkdir(parents=True)
    out.symlink_to(target)
    for sibling in (".run.new", ".run.old", ".first.new"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "mine.txt").write_text("mine")
    settings = {"steps": 4, "save_every": 2, "progress": False, **FAST}
    real_loss = training._LanguageModeling.loss
    calls = []

    def crash_at_step_3(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_loss(self, *args, **kwargs)

    monkeypatch.setattr(training._LanguageModeling, "loss", crash_at_step_3)
    with pytest.raises(RuntimeError, match="power cut"):
        finetune(tiny_model(), TEXT, out=out, **settings)
    monkeypatch.setattr(training._LanguageModeling, "loss", real_loss)
    (out / "notes.txt").write_text("step 2 looked good")
    (out / "eval.json").write_text('{"perplexity": 12.5}')
    run = finetune("unused", TEXT, out=out, **settings)
    assert run.resumed_from == 2 and json.loads((out / "trainer.json").read_text())["step"] == 4
    assert out.is_symlink() and out.resolve() == target.resolve()
    assert (target / "notes.txt").read_text() == "step 2 looked good"
    assert (target / "eval.json").read_text() == '{"perplexity": 12.5}'
    assert "notes.txt" not in json.loads((out / "trainer.json").read_text())["files"]
    for sibling in (".run.new", ".run.old", ".first.new"):
        assert (tmp_path / sibling / "mine.txt").read_text() == "mine"
    (target / ".zoo-staging").mkdir()
    (target / ".zoo-staging" / "mine.txt").write_text("mine")
    with pytest.raises(FolderError, match=r"\.zoo-staging: not a staging folder zoo wrote"):
        finetune("unused", TEXT, out=out, **settings)
    assert (target / ".zoo-staging" / "mine.txt").read_text() == "mine"


def test_a_resumed_run_that_does_not_fit_is_one_clear_error(tmp_path, capsys):
    """trainer.json of the right syntax but the wrong shape, and optimizer state or weights that
    are corrupt or do not fit: an error naming the file and the field (exit status 2 from the
    command line), never a traceback or a run past its end (a negative step once trained a
    2-step run for 5 steps)."""
    from safetensors.torch import load_file, save_file

    from zoo.cli import main

    out = tmp_path / "run"
    finetune(tiny_model(), TEXT, out=out, steps=2, progress=False, **FAST)
    state = out / "trainer.json"
    good = json.loads(state.read_text())
    cases = [
        ({**good, "step": -3}, r"step must be a whole number between 0 and steps \(2\), got -3"),
        ({**good, "step": 9}, r"step must be a whole number between 0 and steps \(2\), got 9"),
        ({**good, "step": "2"}, r"step must be a whole number .*, got \"2\""),
        ({**good, "history": good["history"][:1]}, "history must be a list of 2 rows"),
        ({**good, "history": [1, 2]}, r"history\[0\] must be the row of step 1"),
        ({**good, "settings": []}, "settings must be an object"),
        ([good], "the file must be a JSON object"),
    ]
    for bad, message in cases:
        state.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message):
            finetune("unused", TEXT, out=out, steps=2, progress=False, **FAST)
    for text, message in (("{", "trainer.json is not JSON"), ("[" * 100_000, "nests JSON")):
        state.write_text(text)
        with pytest.raises(ValueError, match=message):
            finetune("unused", TEXT, out=out, steps=2, progress=False, **FAST)
    state.write_text(json.dumps({**good, "step": -3}))
    code, _, err = main(["finetune", "unused", str(DATA / "harbour.txt"), "--steps", "2",
                         "--lr", "3e-3", "--batch", "4", "--context", "32", "--out", str(out),
                         "--quiet"]), *capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "trainer.json: step must be" in err
    state.write_text(json.dumps(good))
    optimizer = load_file(str(out / "optimizer.safetensors"))
    optimizer["exp_avg/blocks.0.attn.out.weight"] = torch.zeros(3)
    save_file(optimizer, str(out / "optimizer.safetensors"))
    with pytest.raises(ValueError, match=r"optimizer\.safetensors: exp_avg/blocks\.0\.attn\.out"
                                         r"\.weight is torch\.float32 of shape \[3\], expected"):
        finetune("unused", TEXT, out=out, steps=2, progress=False, **FAST)
    (out / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"optimizer\.safetensors: 7 bytes is too short"):
        finetune("unused", TEXT, out=out, steps=2, progress=False, **FAST)
    weights = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(weights[:len(weights) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors: truncated"):
        finetune("unused", TEXT, out=out, steps=2, progress=False, **FAST)
    small = zoo.create_model(tiny_spec("llama").with_changes(vocab_size=64), seed=0)
    with pytest.raises(ValueError, match="past tiny-llama's vocabulary of 64: the tokenizer does "
                                         "not fit the model"):
        finetune(small, TEXT, out=tmp_path / "small", steps=1, context=32,
                 tokenizer=byte_tokenizer())
    assert not (tmp_path / "small").exists()


def two_alphabets(n: int = 32) -> tuple[str, list[str]]:
    """Lines of random words over two disjoint alphabets, labelled by the alphabet: every
    token, the last one included, tells the class, so each pooling can learn it."""
    generator = torch.Generator().manual_seed(0)
    lines, labels = [], []
    for i in range(n):
        label, letters = ("ab", "abcdefgh") if i % 2 else ("qx", "qrstuvwx")
        picks = torch.randint(0, 8, (int(torch.randint(8, 24, (1,), generator=generator)),),
                              generator=generator)
        lines.append("".join(letters[j] for j in picks))
        labels.append(label)
    return "\n".join(lines), labels


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_learns_with_each_pooling(tmp_path, pooling):
    lines, labels = two_alphabets()
    run = finetune(tiny_model(), lines, labels=labels, out=tmp_path / pooling, steps=16,
                   warmup=2, pooling=pooling, progress=False, lr=3e-3, batch=8, context=64)
    assert run.task == "classify" and run.classes == ["ab", "qx"]
    assert run.model.pooling == pooling and run.model.classifier.out_features == 2
    assert run.accuracy == 1.0, (pooling, run.accuracy, [r["loss"] for r in run.history])
    assert run.history[-1]["loss"] < run.history[0]["loss"]
    saved = zoo.load(tmp_path / pooling)
    assert saved.pooling == pooling and saved.classifier.out_features == 2
    state = json.loads((tmp_path / pooling / "trainer.json").read_text())
    assert state["classes"] == ["ab", "qx"] and state["settings"]["pooling"] == pooling


def test_text_may_be_its_lines(tmp_path):
    """The README's classifier call: a list of lines and a list of labels."""
    from zoo import training

    text, labels = two_alphabets(8)
    run = finetune(tiny_model(), text.splitlines(), labels=labels, out=tmp_path / "lines",
                   steps=2, warmup=1, progress=False, batch=4, context=64)
    assert run.classes == ["ab", "qx"]
    state = json.loads((tmp_path / "lines" / "trainer.json").read_text())
    assert state["data"] == training._fingerprint(text, labels)
    with pytest.raises(TypeError, match="text must be a string or a list of strings"):
        finetune(tiny_model(), [1, 2], labels=labels, out=tmp_path / "bad", steps=2)
    with pytest.raises(ValueError, match="line 1 of the text holds a newline"):
        finetune(tiny_model(), ["a", "b\nc"], labels=["x", "y"], out=tmp_path / "bad", steps=2)


def test_labels_file():
    labels = read_labels(DATA / "harbour-labels.csv")
    lines = (DATA / "harbour-lines.txt").read_text().splitlines()
    assert len(labels) == len(lines) == 32 and set(labels) == {"sea", "land"}


def test_with_classifier_keeps_the_backbone():
    model = tiny_model("gpt2")
    new = with_classifier(model, 3, "mean", seed=0)
    assert new.classifier.out_features == 3 and new.pooling == "mean"
    assert new.num_params() == zoo.count_params(new.spec, head="classify", num_labels=3).total
    for name, tensor in model.state_dict().items():
        assert torch.equal(new.state_dict()[name], tensor), name
    assert new.head.weight is new.embed.weight and new.tokenizer is model.tokenizer
    assert 0.01 < float(new.classifier.weight.detach().std()) < 0.03
    with pytest.raises(ValueError, match="classifier of 3 classes; the labels have 2"):
        with_classifier(new, 2, "last", seed=0)


def test_input_errors(tmp_path):
    with pytest.raises(ValueError, match="context 65 is longer than tiny-llama's 64 tokens"):
        finetune(tiny_model(), TEXT, out=tmp_path / "x", steps=1, context=65)
    lines = "one\ntwo\nthree\n"
    with pytest.raises(ValueError, match="2 labels for 3 lines"):
        finetune(tiny_model(), lines, labels=["a", "b"], out=tmp_path / "x", steps=1, context=32)
    with pytest.raises(ValueError, match="line 2 of the text is empty"):
        finetune(tiny_model(), "one\n\nthree", labels=["a", "b", "a"], out=tmp_path / "x",
                 steps=1, context=32)
    with pytest.raises(ValueError, match="at least 2 classes"):
        finetune(tiny_model(), lines, labels=["a"] * 3, out=tmp_path / "x", steps=1, context=32)
    with pytest.raises(ValueError, match="a classifier makes none"):
        finetune(tiny_model(), lines, labels=["a", "b", "a"], out=tmp_path / "x", steps=1,
                 sampling_rate=0.5, context=32)
    with pytest.raises(ValueError, match="pooling applies to classification"):
        finetune(tiny_model(), lines, out=tmp_path / "x", steps=1, pooling="mean",
                 context=32)
    bad = tmp_path / "bad.csv"
    bad.write_text("line,class\n1,a\n")
    with pytest.raises(ValueError, match="'label' column"):
        read_labels(bad)
    bad.write_text("line,label\n1,a\n2,\n")
    with pytest.raises(ValueError, match="line 3: no label"):
        read_labels(bad)
    bad.write_text("line,label\n1," + "a" * 200_000 + "\n")  # past csv's field limit
    with pytest.raises(ValueError, match="line 2: not a UTF-8 CSV file: field larger"):
        read_labels(bad)
    bad.write_bytes(b"line,label\n1,\xff\n")
    with pytest.raises(ValueError, match="not a UTF-8 CSV file"):
        read_labels(bad)
    assert not (tmp_path / "x").exists()


def test_fp32_master_weights_and_bf16_detection():
    model = tiny_model().to(torch.bfloat16)
    with pytest.raises(ValueError, match="keeps fp32 master weights"):
        finetune(model, TEXT, out="unused", steps=1)
    assert native_bf16(torch.device("meta")) is False
    assert isinstance(native_bf16(torch.device("cpu")), bool)
