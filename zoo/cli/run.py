"""The commands that load a model and run it: convert, generate, eval and finetune."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zoo.cli.declare import (
    LOADING,
    MODEL_TO_LOAD,
    QUIET,
    TEXT_FILE,
    Declared,
    arg,
    command,
    converter,
    emit_json,
)
from zoo.fields import given
from zoo.files.gguf import WRITABLE
from zoo.report import table
from zoo.units import FLOAT_DTYPES

# where the declared settings live (imported only when their command runs: they need torch)
OPTIONS, WINDOWS, SETTINGS = "zoo.model.generation:Options", "zoo.perplexity:Windows", \
    "zoo.training:Settings"


def read_text(path: str) -> str:
    """A UTF-8 text file whole, in one pass (`zoo.files.text.read_whole`: its byte named
    where it is not UTF-8, and a pipe or device read to a bound, not forever)."""
    from zoo.files.text import read_whole

    return read_whole(path)


def _savable() -> tuple[str, ...]:
    from zoo.checkpoints import SAVABLE

    return SAVABLE


def _options(fmt: str) -> list[str]:
    """The options a format's saver takes (its keyword-only parameters)."""
    import inspect

    from zoo.checkpoints import FORMATS

    saver = FORMATS[fmt].saver
    assert saver is not None
    return [name for name, p in inspect.signature(saver()).parameters.items()
            if p.kind == p.KEYWORD_ONLY]


# --format auto: the format a destination's name says (else a Hugging Face folder)
AUTO_FORMATS = (("zoo", ".safetensors"), ("gguf", ".gguf"))


@command("convert", "convert weights: zoo safetensors, Hugging Face folder / repo id, GGUF",
         arg("src", help="a zoo .safetensors file, a Hugging Face folder or cached repo id, or a "
                         ".gguf file"),
         arg("dst", help="a .safetensors file (zoo format), a .gguf file (llama.cpp) or a "
                         "folder (Hugging Face)"),
         arg("--format", choices=["auto", *_savable()], default="auto",
             help="output format: zoo for *.safetensors, gguf for *.gguf, else hf"),
         arg("--dtype", choices=FLOAT_DTYPES,
             help="convert floating-point weights (default: keep)"),
         arg("--max-shard-size", help="shard above this size (default 5GB; zoo and hf formats)"),
         arg("--gguf-type", choices=list(WRITABLE),
             help="the GGUF file's matrices in this type (default: the weights' dtype; norms "
                  "stay F32)"),
         QUIET.but(help="no progress bars"))
def convert(args: argparse.Namespace) -> int:
    from zoo.checkpoints import check_save, load, save
    from zoo.units import human_bytes

    fmt = args.format
    if fmt == "auto":
        fmt = next((name for name, suffix in AUTO_FORMATS if args.dst.endswith(suffix)), "hf")
    options: dict[str, Any] = {} if fmt == "dcp" else {"progress": not args.quiet}
    for flag, option, value in (("--max-shard-size", "max_shard_size", args.max_shard_size),
                                ("--gguf-type", "tensor_type", args.gguf_type)):
        if value is not None and option not in _options(fmt):
            raise ValueError(f"{flag} does not apply to the {fmt} format")
        if value is not None:
            options[option] = value
    check_save(args.dst, fmt, options)  # before a model of any size is loaded
    model = load(args.src, progress=not args.quiet,
                 **({"dtype": args.dtype} if args.dtype else {}))
    files = save(model, args.dst, format=fmt, **options)
    total = sum(Path(f).stat().st_size for f in files)
    summary = {"model": model.spec.name, "params": model.num_params(), "format": fmt,
               "files": [str(f) for f in files], "bytes": total}
    if args.json:
        emit_json(summary)
    else:
        print(f"{model.spec.name}: {model.num_params():,} parameters -> {fmt} format, "
              f"{len(files)} file(s), {human_bytes(total)}")
        for f in files:
            print(f"  {f}")
    return 0


@command("generate", "generate text with a checkpoint (zoo, Hugging Face folder, GGUF)",
         MODEL_TO_LOAD,
         arg("--prompt", required=True, help="the text to continue"),
         Declared(OPTIONS),  # every option declared with a flag
         arg("--chat", action="store_true", help="apply the model's chat template"),
         arg("--stream", action="store_true", help="print tokens as they come"),
         *LOADING)
def generate(args: argparse.Namespace) -> int:
    from zoo.model.generation import Options, sampling_options
    from zoo.text import generate, resolve_model

    options = sampling_options(given(args, Options))
    # what the options say by themselves is checked before the model loads (seconds); without
    # --max-new-tokens, generate derives it from the prompt, so any count stands in here
    Options.check_alone(**{"max_new_tokens": 1, **options})
    loading = {k: v for k, v in (("dtype", args.dtype), ("quantize", args.quantize)) if v}
    model = resolve_model(args.model, **loading)
    if args.stream and not args.json:
        for piece in generate(model, args.prompt, chat=args.chat, stream=True, **options):
            print(piece, end="", flush=True)
        print()
        return 0
    text = generate(model, args.prompt, chat=args.chat, **options)
    if args.json:
        from zoo.model.kernels import summary

        emit_json({"model": model.spec.name, "requested": args.model, "prompt": args.prompt,
                   "text": text, **summary(model.modules())})
    else:
        print(text)
    return 0


@command("eval", "perplexity of a text file: sliding windows, each token scored once",
         MODEL_TO_LOAD, TEXT_FILE.but(help="UTF-8 text to score"), Declared(WINDOWS),
         *LOADING, QUIET)
def eval_(args: argparse.Namespace) -> int:
    from zoo.files.text import TextFile
    from zoo.perplexity import Windows, evaluate

    result = evaluate(args.model, TextFile(args.file), **given(args, Windows), dtype=args.dtype,
                      quantize=args.quantize, progress=False if args.quiet else None)
    if args.json:
        emit_json({"file": args.file, **result.to_dict()})
        return 0
    print(f"{result.model} on {args.file}: perplexity {result.perplexity:.4f}, loss "
          f"{result.loss:.4f} nats per token")
    print(f"{result.scored:,} tokens scored ({result.tokens:,} in the text, all but the first) in "
          f"{result.windows} window(s) of up to {result.context} tokens, stride {result.stride}, "
          f"{result.batch} at a time")
    print(f"{result.tokens_per_second:,.1f} tokens/s ({result.seconds:.2f} s)")
    return 0


@command("finetune", "fine-tune on a text file (next-token loss), or a classifier on labelled "
                     "lines (--classify); resumes from the output's checkpoint",
         MODEL_TO_LOAD, TEXT_FILE.but(help="UTF-8 text; with --classify, one example per line"),
         Declared(SETTINGS, overrides={"steps": {"required": True}}),
         arg("--classify", metavar="LABELS.csv",
             help="train a classifier: a CSV with a 'label' column, one row per line of "
                  "FILE.txt"),
         arg("--bf16", action=argparse.BooleanOptionalAction,
             help="bf16 autocast (default: where the CPU or GPU computes bf16 natively)"),
         arg("--save-every", type=converter("save_every", "int", min=1), default=100,
             help="checkpoint every N steps, and at the end"),
         arg("--out", help="the run's folder: weights, tokenizer, optimizer state, loss.png "
                           "(default: NAME-finetuned)"),
         QUIET)
def finetune(args: argparse.Namespace) -> int:
    from zoo.training import Settings, finetune, read_labels

    out = args.out or f"{Path(args.model.rstrip('/')).stem}-finetuned"
    labels = read_labels(args.classify) if args.classify else None
    run = finetune(args.model, read_text(args.file), out=out, labels=labels, bf16=args.bf16,
                   save_every=args.save_every, progress=False if args.quiet else None,
                   **given(args, Settings))
    if args.json:
        emit_json({"file": args.file, **run.to_dict()})
        return 0
    if run.resumed_from == run.steps:
        print(f"{out} holds a finished run of {run.steps} steps: nothing to do")
        return 0
    objective = ("next-token loss" if run.task == "lm" else
                 f"classification ({', '.join(run.classes or [])})")
    resumed = f", resumed from step {run.resumed_from}" if run.resumed_from else ""
    print(f"{run.model.spec.name}, {objective} on {args.file}: {run.steps} steps{resumed}, "
          f"{'bf16 autocast' if run.bf16 else 'fp32'}, {run.tokens_per_second:,.0f} tokens/s")
    rows = run.history[run.resumed_from:]
    shown = sorted({round(i * (len(rows) - 1) / 9) for i in range(10)})
    columns = ["step", "loss", "lr"] + (["sampling rate"] if run.task == "lm" else [])
    print(table([[rows[i]["step"], f"{rows[i]['loss']:.4f}", f"{rows[i]['lr']:.2e}",
                  *([f"{rows[i]['sampling_rate']:.3f}"] if run.task == "lm" else [])]
                 for i in shown], columns))
    if run.accuracy is not None:
        print(f"accuracy on the training examples: {run.accuracy:.1%}")
    print(f"saved to {out}" + (f"; loss curve {run.plot}" if run.plot else ""))
    for note in run.notes:
        print(f"note: {note}")
    return 0
