"""Fine-tuning: a small, honest training loop, for the next-token objective or a classifier.

Nothing here is new; it is the standard recipe, written out so that each choice is visible:
AdamW (weight decay on matrices only), linear warmup then cosine decay to a tenth of the peak
learning rate, gradient clipping, bf16 autocast where the hardware computes bf16 natively
(fp32 master weights either way), and, for the language model, scheduled sampling
(`Model.loss(sampling_rate=...)`) with its rate raised over the run as Bengio et al. raise it.

A run is a folder (`out`), which is also its last checkpoint: the weights as zoo safetensors
(`zoo.save`), the tokenizer, the optimizer's moments (safetensors, by parameter name), the
step, settings and loss history (trainer.json, with the manifest of these files) and the loss
curve (loss.png). Nothing is pickled. The folder is a `zoo.files.folder.RunFolder`: a
checkpoint is written whole into a staging folder inside it and committed in one step, so a
crash leaves the previous one; files zoo did not write stay; one run at a time holds its lock.
Running again with the same settings resumes from it and continues exactly as an uninterrupted
run would (the batches and scheduled-sampling draws are functions of the seed and the step).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.checkpoints import save
from zoo.errors import require_tokenizer
from zoo.fields import check, setting
from zoo.files.commit import write_safetensors
from zoo.files.folder import RunFolder
from zoo.files.safetensors_io import open_safetensors
from zoo.model import POOLINGS, Model
from zoo.text import resolve_model
from zoo.tokenizer import Tokenizer

STATE_FILE = "trainer.json"
OPTIMIZER_FILE = "optimizer.safetensors"
PLOT_FILE = "loss.png"
# what a run folder written before manifests holds of zoo's
LEGACY_FILES = ("model.safetensors", "model.safetensors.index.json", "tokenizer.json",
                "tokenizer_config.json", OPTIMIZER_FILE, STATE_FILE, PLOT_FILE)
SCHEDULES = ("linear", "constant")
BETAS = (0.9, 0.95)  # GPT-3's Adam betas, usual for language models since


@dataclass(frozen=True)
class Settings:
    """What defines a run, declared once (`zoo.fields`: `zoo finetune`'s flags come from
    here); resuming asks for the same, field by field.

    The learning rate rises linearly over the `warmup` first steps, is `lr` at step `warmup`
    (0-based), and falls along a cosine to `min_lr` x `lr` at the last step. `sampling_rate`
    is the scheduled-sampling rate reached at the last step, rising from 0
    (`sampling_schedule="linear"`: Bengio et al.'s linear decay of the teacher-forcing
    probability, seen from the other side) or held throughout (`"constant"`). `pooling` is set
    for classification runs only.
    """

    steps: int = setting("int", min=1, expected="a positive number", doc="optimizer steps")
    lr: float = setting("float", 5e-5, min=0.0, min_exclusive=True, expected="positive",
                        doc="peak learning rate")
    batch: int = setting("int", 8, min=1, expected="a positive number",
                         doc="sequences per step")
    context: int = setting("int", 256, min=2, expected="at least 2 tokens",
                           doc="tokens per sequence; with --classify, the most per example")
    warmup: int | None = setting(
        "int?", None, min=0, doc="steps of linear warmup before the cosine decay",
        default_doc="a tenth of the steps")
    min_lr: float = setting("float", 0.1, min=0.0, max=1.0, cli=False,
                            expected="a fraction of lr, in [0, 1]",
                            doc="the learning rate's floor, as a fraction of lr")
    weight_decay: float = setting("float", 0.1, min=0.0, expected="not negative", cli=False,
                                  doc="AdamW's decoupled weight decay (matrices only)")
    clip: float = setting("float", 1.0, min=0.0, min_exclusive=True, cli=False,
                          expected="a positive gradient norm", doc="gradient-norm clipping")
    sampling_rate: float = setting(
        "float", 0.0, min=0.0, max=1.0, expected="a probability, in [0, 1]",
        doc="scheduled sampling: the probability that an input token is the model's own "
            "prediction instead of the text's, reached at the last step (0: teacher forcing "
            "throughout)")
    sampling_schedule: str = setting("enum", "linear", choices=SCHEDULES,
                                     expected=" or ".join(SCHEDULES),
                                     doc="the rate rises linearly from 0, or is held constant")
    seed: int = setting("int", 0, doc="batch order, sampling draws, classifier init")
    pooling: str | None = setting("enum?", None, choices=POOLINGS, expected=" or ".join(POOLINGS),
                                  doc="how the classifier pools the final states over the tokens",
                                  default_doc="last, for a classifier")

    def __post_init__(self) -> None:
        values = check(type(self), asdict(self), dialect="python")
        if values["warmup"] is None:
            values["warmup"] = values["steps"] // 10
        for name, value in values.items():  # numbers as Python numbers, defaults resolved
            object.__setattr__(self, name, value)
        if self.warmup > self.steps:
            raise ValueError(f"warmup must be between 0 and steps ({self.steps}), got "
                             f"{self.warmup!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate of step `step` (0-based)."""
        if step < self.warmup:
            return self.lr * (step + 1) / (self.warmup + 1)
        progress = (step - self.warmup) / max(1, self.steps - 1 - self.warmup)
        floor = self.min_lr * self.lr
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def sampling_rate_at(self, step: int) -> float:
        if self.sampling_schedule == "constant":
            return self.sampling_rate
        return self.sampling_rate * step / max(1, self.steps - 1)


@dataclass
class Run:
    """What a call to `finetune` did."""

    model: Model  # the trained model (for classification: with its classifier)
    out: Path
    task: str  # "lm" or "classify"
    steps: int
    resumed_from: int  # 0 for a fresh run
    history: list[dict[str, float]]
    bf16: bool
    seconds: float  # this call's training time
    tokens_per_second: float  # tokens through the model per second, this call
    plot: Path | None
    classes: list[str] | None = None
    accuracy: float | None = None  # classification: on the training examples, at the end
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(model=self.model.spec.name, out=str(self.out),
                    plot=self.plot and str(self.plot))
        return data


def _as_text(text: str | Sequence[str]) -> str:
    """The text, or its lines (each one line) joined."""
    if isinstance(text, str):
        return text
    if not isinstance(text, Sequence) or not all(isinstance(line, str) for line in text):
        raise TypeError(f"text must be a string or a list of strings (its lines), got "
                        f"{type(text).__name__}")
    broken = next((i for i, line in enumerate(text) if "\n" in line), None)
    if broken is not None:
        raise ValueError(f"line {broken} of the text holds a newline; give each line alone")
    return "\n".join(text)


def finetune(model_or_path: Any, text: str | Sequence[str], *, out: str | os.PathLike[str],
             labels: list[str] | None = None, tokenizer: Tokenizer | None = None,
             bf16: bool | None = None, save_every: int = 100, progress: bool | None = None,
             **settings: Any) -> Run:
    """Fine-tune a model (a Model, trained in place; a checkpoint path or a registry name,
    loaded in fp32) on `text`, saving to the folder `out`; `settings` are `Settings`' fields
    (steps is required).

    Without `labels`, the next-token objective over the text, cut into windows of `context`
    tokens. With `labels` (one per line of `text`), a classifier on the model's final states,
    pooled as `pooling` says (last, mean or max over the real tokens), each line truncated to
    `context` tokens; the classes are the distinct labels, sorted. `text` may also be given as
    its lines, a list of strings.

    If `out` holds a checkpoint of this run (same settings, same data), training resumes from
    it and `model_or_path` is not read. `bf16` autocast defaults to on where the device computes
    bf16 natively (`native_bf16`). A checkpoint is written every `save_every` steps and at the
    end. The progress bar (on stderr) shows by default on a terminal.
    """
    text = _as_text(text)
    classify = labels is not None
    if classify:
        settings.setdefault("pooling", "last")
        if settings.get("sampling_rate"):
            raise ValueError("scheduled sampling feeds the model its own next-token predictions; "
                             "a classifier makes none: drop the sampling rate or the labels")
    elif settings.get("pooling") is not None:
        raise ValueError("pooling applies to classification (labels) only")
    config = Settings(**settings)
    if save_every < 1:
        raise ValueError(f"save_every must be a positive number of steps, got {save_every}")
    out = Path(out)
    fingerprint = _fingerprint(text, labels)
    with RunFolder.open(out, STATE_FILE, what="a zoo fine-tuning run",
                        legacy=LEGACY_FILES) as folder:
        return _train(folder, model_or_path, text, labels, tokenizer, config, fingerprint,
                      bf16=bf16, save_every=save_every, progress=progress)


def _train(folder: RunFolder, model_or_path: Any, text: str, labels: list[str] | None,
           tokenizer: Tokenizer | None, config: Settings, fingerprint: dict[str, Any], *,
           bf16: bool | None, save_every: int, progress: bool | None) -> Run:
    """`finetune`'s run, in its locked folder."""
    out, classify = folder.path, labels is not None
    model, state, checkpoint = _resume_or_start(model_or_path, folder, config, fingerprint)
    if model.quantized:
        raise ValueError(f"{model.spec.name}'s weights are packed for inference "
                         f"({model.quantized}, zoo.quantize) and have no gradients; fine-tune "
                         f"the float model")
    tokenizer = require_tokenizer(model, tokenizer)
    model.tokenizer = tokenizer
    if config.context > model.spec.context_length:
        raise ValueError(f"context {config.context} is longer than {model.spec.name}'s "
                         f"{model.spec.context_length} tokens")
    if classify:
        task: _Task = _Classification(text, labels, tokenizer, config.context)
        model = with_classifier(model, len(task.classes), config.pooling, config.seed)
    else:
        task = _LanguageModeling(tokenizer.encode(text), config.context)
    top = (max(max(e, default=0) for e in task.examples) if isinstance(task, _Classification)
           else int(task.ids.max()))
    if top >= model.spec.vocab_size:
        raise ValueError(f"the tokenizer gives token id {top}, past {model.spec.name}'s "
                         f"vocabulary of {model.spec.vocab_size}: the tokenizer does not fit "
                         f"the model")
    device = model.embed.weight.device
    use_bf16 = native_bf16(device) if bf16 is None else bf16
    optimizer = adamw(model, config)
    if checkpoint is not None:
        load_optimizer_state(model, optimizer, checkpoint / OPTIMIZER_FILE)
    history: list[dict[str, float]] = state["history"]
    start = state["step"]
    notes: list[str] = []
    meta = {"format": "zoo-finetune", "version": 1, "model": model.spec.name,
            "task": task.name, "data": fingerprint, "settings": asdict(config),
            "classes": getattr(task, "classes", None)}
    model.train()
    bar = _progress(progress, config.steps, start)
    tokens, began = 0, time.perf_counter()
    for step in range(start, config.steps):
        lr = config.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        generator = _generator(device, config.seed, 1, step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, n = task.loss(model, task.draw(config.batch, step, config.seed), config,
                                step, generator)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        row = {"step": step + 1, "loss": loss.item(), "lr": lr, "grad_norm": norm.item()}
        if not classify:
            row["sampling_rate"] = config.sampling_rate_at(step)
        history.append(row)
        tokens += n
        if bar is not None:
            recent = [r["loss"] for r in history[-10:]]
            bar.update(1)
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{lr:.2e}")
        if (step + 1) % save_every == 0 or step + 1 == config.steps:
            save_checkpoint(folder, model, optimizer,
                            {**meta, "step": step + 1, "history": history}, notes)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - began
    model.eval()
    accuracy = task.accuracy(model, config.batch) if classify else None
    plot = out / PLOT_FILE
    return Run(model=model, out=out, task=task.name, steps=config.steps,
               resumed_from=start, history=history, bf16=use_bf16, seconds=seconds,
               tokens_per_second=tokens / seconds if seconds else 0.0,
               plot=plot if plot.is_file() else None, classes=getattr(task, "classes", None),
               accuracy=accuracy, notes=notes)


def _resume_or_start(model_or_path: Any, folder: RunFolder, config: Settings,
                     fingerprint: dict[str, Any]) -> tuple[Model, dict[str, Any], Path | None]:
    """The model, the run's state so far and its checkpoint: from the folder when it holds
    this run, else `model_or_path` at step 0."""
    if folder.state() is not None:
        state = _read_state(folder, config, fingerprint)
        return resolve_model(folder.path, dtype="fp32"), state, folder.path
    model = (model_or_path if isinstance(model_or_path, Model)
             else resolve_model(model_or_path, dtype="fp32"))
    if model.embed.weight.dtype != torch.float32:
        raise ValueError(f"{model.spec.name} has {model.embed.weight.dtype} weights; fine-tuning "
                         f"keeps fp32 master weights (autocast makes the compute bf16): pass "
                         f"model.float()")
    return model, {"step": 0, "history": []}, None


# --- the two objectives ------------------------------------------------------------------------

class _Task:
    name: str
    items: int

    def draw(self, batch: int, step: int, seed: int) -> list[int]:
        """The items of step `step`'s batch. The run walks through epochs, each a fresh
        permutation of every item, so any step's batch is known without replaying the run."""
        picks = []
        for k in range(step * batch, (step + 1) * batch):
            epoch, i = divmod(k, self.items)
            picks.append(_permutation(self.items, seed, epoch)[i])
        return picks

    def loss(self, model: Model, picks: list[int], config: Settings, step: int,
             generator: torch.Generator) -> tuple[Tensor, int]:
        raise NotImplementedError

    def accuracy(self, model: Model, batch: int) -> float:
        raise NotImplementedError


class _LanguageModeling(_Task):
    """Windows of `context` tokens that tile the text; the last one ends at the text's end (so
    it may overlap the one before) and nothing is dropped."""

    name = "lm"

    def __init__(self, ids: list[int], context: int) -> None:
        if len(ids) < 2:
            raise ValueError(f"the text has {len(ids)} token(s); training needs at least 2")
        self.ids = torch.tensor(ids)
        self.width = min(context, len(ids))
        starts = list(range(0, len(ids) - self.width + 1, self.width))
        if starts[-1] + self.width < len(ids):
            starts.append(len(ids) - self.width)
        self.starts = starts
        self.items = len(starts)

    def loss(self, model: Model, picks: list[int], config: Settings, step: int,
             generator: torch.Generator) -> tuple[Tensor, int]:
        device = model.embed.weight.device
        ids = torch.stack([self.ids[self.starts[i]:self.starts[i] + self.width] for i in picks])
        loss = model.loss(ids.to(device), sampling_rate=config.sampling_rate_at(step),
                          generator=generator)
        return loss, ids.numel()


class _Classification(_Task):
    """One example per line of the text, one label per example."""

    name = "classify"

    def __init__(self, text: str, labels: list[str], tokenizer: Tokenizer, context: int) -> None:
        lines = text.splitlines()
        if len(lines) != len(labels):
            raise ValueError(f"{len(labels)} labels for {len(lines)} lines of text: each line is "
                             f"one example and needs exactly one label")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise ValueError(f"line {number} of the text is empty: every line is an example")
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise ValueError(f"a classifier needs at least 2 classes; the labels hold only "
                             f"{self.classes}")
        self.examples = [tokenizer.encode(line)[:context] for line in lines]
        self.targets = torch.tensor([self.classes.index(label) for label in labels])
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.items = len(lines)

    def _batch(self, picks: list[int], device: torch.device) -> tuple[Tensor, Tensor]:
        """Right-padded ids and their attention mask."""
        width = max(len(self.examples[i]) for i in picks)
        ids = torch.full((len(picks), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(picks), width), dtype=torch.long)
        for row, i in enumerate(picks):
            ids[row, :len(self.examples[i])] = torch.tensor(self.examples[i])
            mask[row, :len(self.examples[i])] = 1
        return ids.to(device), mask.to(device)

    def loss(self, model: Model, picks: list[int], config: Settings, step: int,
             generator: torch.Generator) -> tuple[Tensor, int]:
        ids, mask = self._batch(picks, model.embed.weight.device)
        logits = model.classify(ids, attention_mask=mask)
        return F.cross_entropy(logits.float(), self.targets[picks].to(ids.device)), int(mask.sum())

    def accuracy(self, model: Model, batch: int) -> float:
        right = 0
        with torch.inference_mode():
            for i in range(0, self.items, batch):
                picks = list(range(i, min(i + batch, self.items)))
                ids, mask = self._batch(picks, model.embed.weight.device)
                predicted = model.classify(ids, attention_mask=mask).argmax(-1).cpu()
                right += int((predicted == self.targets[picks]).sum())
        return right / self.items


@functools.lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> list[int]:
    return torch.randperm(n, generator=_generator(torch.device("cpu"), seed, 0, epoch)).tolist()


def _generator(device: torch.device, seed: int, *keys: int) -> torch.Generator:
    """A generator seeded by the run's seed and `keys` (a stream and an index), so every draw
    is reproducible on its own."""
    value = seed
    for key in keys:
        value = value * 1_000_003 + key
    return torch.Generator(device=device).manual_seed(value % 2**63)


def read_labels(path: str | os.PathLike[str]) -> list[str]:
    """The `label` column of a CSV file (a header row names the columns), one row per example."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            return _labels(reader, path)
        except (csv.Error, UnicodeDecodeError) as err:  # a field past csv's limit, binary
            raise ValueError(f"{path}, line {reader.line_num + 1}: not a UTF-8 CSV file: "
                             f"{err}") from None


def _labels(reader: csv.DictReader, path: Path) -> list[str]:
    if not reader.fieldnames or "label" not in reader.fieldnames:
        raise ValueError(f"{path}: expected a CSV file with a header row that has a 'label' "
                         f"column, found columns {reader.fieldnames}")
    labels = []
    for row in reader:
        label = (row.get("label") or "").strip()
        if not label:
            raise ValueError(f"{path}, line {reader.line_num}: no label")
        labels.append(label)
    return labels


# --- model, optimizer, hardware ---------------------------------------------------------------

def with_classifier(model: Model, num_labels: int, pooling: str | None, seed: int) -> Model:
    """The model with a classification head of `num_labels` on its final states (the GPT
    paper's linear classifier), initialised N(0, 0.02) from `seed`; a model that has one
    already keeps it (its size must match) and takes the pooling."""
    pooling = pooling or "last"
    if model.classifier is not None:
        if model.classifier.out_features != num_labels:
            raise ValueError(f"{model.spec.name} has a classifier of "
                             f"{model.classifier.out_features} classes; the labels have "
                             f"{num_labels}")
        model.pooling = pooling
        return model
    with torch.device("meta"):
        new = Model(model.spec, head="classify", num_labels=num_labels, pooling=pooling)
    missing, unexpected = new.load_state_dict(model.state_dict(), strict=False, assign=True)
    assert missing == ["classifier.weight"] and not unexpected, (missing, unexpected)
    new.classifier.to_empty(device=model.embed.weight.device)
    new.init_weights(seed, only={"classifier.weight"})
    new.tokenizer = model.tokenizer
    return new


def adamw(model: Model, config: Settings) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and embeddings only, not on biases and norms (as
    GPT-2 and most since): decaying a norm's gain towards 0 is not regularisation."""
    params = list(model.parameters())  # a tied head is the embedding, once
    groups = [{"params": [p for p in params if p.dim() >= 2],
               "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=BETAS)


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 natively (x86 AVX512-BF16 or AMX, Arm BF16, CUDA bf16).
    Only then does bf16 autocast speed training up; elsewhere bf16 is emulated and slower than
    fp32, so the default is off."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


# --- checkpoints ------------------------------------------------------------------------------

def save_checkpoint(folder: RunFolder, model: Model, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any], notes: list[str]) -> None:
    """Write the whole checkpoint into the run folder's staging folder, then commit it
    (`RunFolder.commit`): at every moment the folder holds one whole checkpoint, and an error
    or Ctrl-C while writing removes the staging folder."""
    with folder.staging() as stage:
        save(model, stage)
        if model.tokenizer is not None:
            model.tokenizer.save(stage)
        write_safetensors(optimizer_state(model, optimizer), stage / OPTIMIZER_FILE,
                          {"format": "zoo-finetune optimizer"}, max_shard_size=2**62)
        _draw(state, stage / PLOT_FILE, notes)
        folder.commit(stage, state)


def optimizer_state(model: Model, optimizer: torch.optim.Optimizer) -> dict[str, Tensor]:
    """The optimizer's per-parameter tensors, named `<key>/<parameter name>` (e.g.
    exp_avg/blocks.0.attn.q.weight), so that a checkpoint does not depend on parameter order.
    The hyperparameters are not state: they follow from the settings and the step."""
    return {f"{key}/{name}": value for name, p in model.named_parameters()
            for key, value in optimizer.state.get(p, {}).items()}


ADAMW_STATE = ("step", "exp_avg", "exp_avg_sq")  # what AdamW keeps per parameter


def load_optimizer_state(model: Model, optimizer: torch.optim.Optimizer, path: Path) -> None:
    """AdamW's state from `optimizer_state`'s file, each tensor checked against its parameter
    (a scalar step, moments of the parameter's shape), so that a corrupt file or one of another
    model is an error naming the tensor, not a failure inside the optimizer."""
    try:
        source = open_safetensors(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: missing; the run folder's optimizer state is gone") from None
    for name, p in model.named_parameters():
        state = {}
        for key in ADAMW_STATE:
            stored = f"{key}/{name}"
            if stored not in source:
                raise ValueError(f"{path}: no optimizer state {stored} (the file does not fit "
                                 f"{model.spec.name})")
            expected = () if key == "step" else tuple(p.shape)
            if source.shape(stored) != expected or not source.dtype(stored).is_floating_point:
                raise ValueError(f"{path}: {stored} is {source.dtype(stored)} of shape "
                                 f"{list(source.shape(stored))}, expected floats of shape "
                                 f"{list(expected)} for {name}")
            value = source.read(stored, mmap=False)
            state[key] = value if key == "step" else value.to(p.device, torch.float32)
        optimizer.state[p] = state


def _read_state(folder: RunFolder, config: Settings, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """trainer.json, checked field by field: the same settings and data as asked, then a step
    between 0 and the run's steps and one history row per step done. A file of the right
    syntax but the wrong shape is an error naming the field, never a run that trains past its
    end."""
    where, state = folder.state_path, folder.state()

    def bad(field: str, expected: str, value: Any) -> ValueError:
        return ValueError(f"{where}: {field} must be {expected}, got {json.dumps(value)[:80]}")

    if not isinstance(state, dict):
        raise bad("the file", "a JSON object", state)
    if state.get("format") != "zoo-finetune":
        raise bad("format", "'zoo-finetune' (a state zoo finetune wrote)", state.get("format"))
    for key in ("settings", "data"):
        if not isinstance(state.get(key), dict):
            raise bad(key, "an object", state.get(key))
    _check_resume(folder.path, state, config, fingerprint)
    step, history = state.get("step"), state.get("history")
    if type(step) is not int or not 0 <= step <= config.steps:
        raise bad("step", f"a whole number between 0 and steps ({config.steps})", step)
    if not isinstance(history, list) or len(history) != step:
        raise bad("history", f"a list of {step} rows, one per step done", history)
    for i, row in enumerate(history):
        if (not isinstance(row, dict) or row.get("step") != i + 1 or
                any(type(row.get(k)) not in (int, float) for k in ("loss", "lr", "grad_norm"))):
            raise bad(f"history[{i}]", f"the row of step {i + 1} (numbers loss, lr, grad_norm)",
                      row)
    return state


def _check_resume(checkpoint: Path, state: dict[str, Any], config: Settings,
                  fingerprint: dict[str, Any]) -> None:
    asked = asdict(config)
    saved = state.get("settings", {})
    differ = [f"{name}: the checkpoint has {saved.get(name)!r}, asked {value!r}"
              for name, value in asked.items() if saved.get(name) != value]
    if state.get("data") != fingerprint:
        differ.append("the training data differ from the checkpoint's")
    if differ:
        raise ValueError(f"{checkpoint} holds a run with other settings ({'; '.join(differ)}). "
                         f"Resume it with the same ones, or start another run with another "
                         f"output folder (from {checkpoint} itself to continue from its weights)")


def _fingerprint(text: str, labels: list[str] | None) -> dict[str, Any]:
    digest = hashlib.sha256(text.encode())
    if labels is not None:
        digest.update(json.dumps(labels).encode())
    return {"sha256": digest.hexdigest(), "characters": len(text),
            "labels": None if labels is None else len(labels)}


def _draw(state: dict[str, Any], path: Path, notes: list[str]) -> None:
    """The loss curve so far, if matplotlib is installed (an optional extra)."""
    try:
        from zoo import plot

        fig, _ = plot.loss_curve(state["history"], f"{state['model']}: fine-tuning loss "
                                                   f"({state['task']})")
        plot.save(fig, path)
    except ImportError as err:
        if str(err) not in notes:
            notes.append(str(err))


def _progress(enabled: bool | None, total: int, initial: int) -> Any:
    if enabled is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="fine-tuning", unit="step",
                disable=None if enabled is None else False)
