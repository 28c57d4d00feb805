"""GGUF in: tiny files written here (every transform checked, fast), and the real SmolLM2 and
Gemma 3 270M."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.tiny import float_layers_while_packing, hf_model, tiny_spec
from zoo.checkpoints.gguf import from_gguf, unpermute
from zoo.files import WeightsError

gguf = pytest.importorskip("gguf")


def llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """What llama.cpp's convert_hf_to_gguf.py does to q and k rows."""
    return (w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2)
            .reshape(w.shape))


def write_tiny_gguf(path, spec, hf, *, head_count: int | None = None, tensor=None,
                    block_type=None) -> None:
    """The GGUF file llama.cpp's converter writes for `hf`; `head_count` and `tensor(name,
    array) -> array` make it wrong on purpose; `block_type` (a GGMLQuantizationType, or
    name -> one or None) stores the layers' matrices in it (Q4_K: `q4_k_blocks`)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    add = writer.add_tensor
    if tensor is not None:
        writer.add_tensor = lambda name, array: add(name, tensor(name, array))
    if block_type is not None:
        def blocks(name, array):
            kind = block_type if isinstance(block_type, int) else block_type(name)
            if kind is None or not name.startswith("blk.") or array.ndim != 2:
                return add(name, array)
            raw = q4_k_blocks(array) if kind == gguf.GGMLQuantizationType.Q4_K else \
                gguf.quants.quantize(array, kind)
            return add(name, raw, raw_dtype=kind)

        writer.add_tensor = blocks
    writer.add_block_count(spec.n_layer)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.d_model)
    writer.add_feed_forward_length(spec.d_ff)
    writer.add_head_count(spec.n_head if head_count is None else head_count)
    writer.add_head_count_kv(spec.kv_heads)
    writer.add_rope_freq_base(spec.rope_theta)
    writer.add_layer_norm_rms_eps(spec.norm_eps)
    writer.add_vocab_size(spec.vocab_size)
    tokens = [f"t{i}" for i in range(spec.vocab_size)]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * spec.vocab_size)
    writer.add_token_merges([])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    if not spec.tie_embeddings:
        writer.add_tensor("output.weight", state["lm_head.weight"])
    for i in range(spec.n_layer):
        p = f"model.layers.{i}"
        parts = {"attn_norm": f"{p}.input_layernorm", "ffn_norm": f"{p}.post_attention_layernorm",
                 "attn_v": f"{p}.self_attn.v_proj", "attn_output": f"{p}.self_attn.o_proj",
                 "ffn_gate": f"{p}.mlp.gate_proj", "ffn_up": f"{p}.mlp.up_proj",
                 "ffn_down": f"{p}.mlp.down_proj"}
        for name, source in parts.items():
            writer.add_tensor(f"blk.{i}.{name}.weight", state[f"{source}.weight"])
        writer.add_tensor(f"blk.{i}.attn_q.weight",
                          llama_cpp_permute(state[f"{p}.self_attn.q_proj.weight"], spec.n_head))
        writer.add_tensor(f"blk.{i}.attn_k.weight",
                          llama_cpp_permute(state[f"{p}.self_attn.k_proj.weight"],
                                            spec.kv_heads))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("label", ["llama", "smollm2", "llama-gqa"])
def test_tiny_gguf_gives_transformers_logits(tmp_path, label):
    spec = tiny_spec(label)
    hf = hf_model(spec)
    write_tiny_gguf(tmp_path / "tiny.gguf", spec, hf)
    model = from_gguf(tmp_path / "tiny.gguf")
    assert model.spec.kv_heads == spec.kv_heads and model.spec.tie_embeddings == \
        spec.tie_embeddings
    ids = torch.randint(0, spec.vocab_size, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(ids) - hf(ids).logits).abs().max() <= 1e-4
    assert zoo.load(tmp_path / "tiny.gguf").num_params() == model.num_params()


def test_unpermute_inverts_llama_cpp():
    w = np.arange(8 * 2 * 6, dtype=np.float32).reshape(16, 6)
    assert np.array_equal(unpermute(torch.from_numpy(llama_cpp_permute(w, 2)), 2).numpy(), w)


def test_not_gguf(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"not a gguf file at all")
    with pytest.raises(WeightsError, match=r"x\.gguf"):
        from_gguf(tmp_path / "x.gguf")


def test_head_count_zero(tmp_path):
    from zoo.checkpoints import read_spec

    spec = tiny_spec("llama")
    write_tiny_gguf(tmp_path / "bad.gguf", spec, hf_model(spec), head_count=0)
    for read in (read_spec, zoo.load):
        with pytest.raises(WeightsError, match=r"bad\.gguf: GGUF metadata "
                                               r"llama\.attention\.head_count is 0; expected a "
                                               r"positive integer"):
            read(tmp_path / "bad.gguf")


def test_tensor_of_the_wrong_shape(tmp_path):
    spec = tiny_spec("llama")

    def shorter(name, array):
        return array[:-2] if name == "blk.0.attn_q.weight" else array

    write_tiny_gguf(tmp_path / "bad.gguf", spec, hf_model(spec), tensor=shorter)
    with pytest.raises(WeightsError, match=r"bad\.gguf does not match .*\n  mis-shaped: "
                                           r"model\.layers\.0\.self_attn\.q_proj\.weight: "
                                           r"expected \[64, 64\], found \[62, 64\]"):
        from_gguf(tmp_path / "bad.gguf")


# --- the real checkpoint ---------------------------------------------------------------------

def test_real_smollm2_matches_the_registry(smollm2):
    assert smollm2.spec.name == "smollm2-135m"
    assert smollm2.num_params() == zoo.count_params("smollm2-135m").total == 134_515_008


def test_real_smollm2_logits_equal_transformers(smollm2, smollm2_hf):
    tok = smollm2.tokenizer
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of "
                                                                  "France?"}])
    ids = torch.tensor([tok.encode(prompt)])
    with torch.no_grad():
        ours, theirs = smollm2(ids), smollm2_hf(ids).logits
    assert (ours - theirs).abs().max() <= 1e-3
    assert torch.equal(ours[0, -1].argmax(), theirs[0, -1].argmax())


def test_real_smollm2_tokenizer(smollm2):
    tok = smollm2.tokenizer
    assert tok.bos_token == "<|im_start|>" and tok.eos_token_id == 2 and tok.pad_token_id == 2
    assert tok.encode("<|im_start|>user") == [1, *tok.encode("user")]
    text = "The year 2024 had 366 days."
    assert tok.decode(tok.encode(text)) == text
    digits = [tok.decode([i]) for i in tok.encode("2024")]
    assert digits == ["2", "0", "2", "4"], "the smollm pre-tokenizer splits every digit"
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")


# --- Gemma 3 ---------------------------------------------------------------------------------

def write_tiny_gemma3_gguf(path, spec, hf) -> None:
    """As llama.cpp's converter writes Gemma 3: norms stored as 1 + w, no q/k permutation, a
    SentencePiece vocabulary with no merges."""
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_block_count(spec.n_layer)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.d_model)
    writer.add_feed_forward_length(spec.d_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.kv_heads)
    writer.add_key_length(spec.head_dim)
    writer.add_value_length(spec.head_dim)
    writer.add_rope_freq_base(spec.rope_theta)
    writer.add_layer_norm_rms_eps(spec.norm_eps)
    writer.add_sliding_window(spec.local_window)
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", *(f"t{i}" for i in range(spec.vocab_size - 4))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * spec.vocab_size)
    writer.add_token_types([3, 3, 3, 2] + [1] * (spec.vocab_size - 4))
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    state = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"] + 1)
    for i in range(spec.n_layer):
        p = f"model.layers.{i}"
        norms = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
                 "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm":
                 "post_feedforward_layernorm", "attn_q_norm": "self_attn.q_norm",
                 "attn_k_norm": "self_attn.k_norm"}
        for name, source in norms.items():
            writer.add_tensor(f"blk.{i}.{name}.weight", state[f"{p}.{source}.weight"] + 1)
        parts = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
        for name, source in parts.items():
            writer.add_tensor(f"blk.{i}.{name}.weight", state[f"{p}.{source}.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_tiny_gemma3_gguf_gives_transformers_logits(tmp_path):
    """Gemma 3's GGUF as llama.cpp writes it: every sixth layer global, the local layers' own
    rotary base and the score scale implied, norms taken back from 1 + w."""
    base = tiny_spec("gemma3")
    spec = base.with_changes(n_layer=6, attention_pattern=["local"] * 5 + ["global"],
                             query_pre_attn_scalar=32.0, rope_scaling=None)
    hf = hf_model(spec)
    write_tiny_gemma3_gguf(tmp_path / "tiny.gguf", spec, hf)
    model = from_gguf(tmp_path / "tiny.gguf")
    assert model.spec.layer_kinds == spec.layer_kinds
    assert model.spec.local_rope_theta == 10000.0 and model.spec.rope_theta == spec.rope_theta
    ids = torch.randint(4, spec.vocab_size, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(ids) - hf(ids).logits).abs().max() <= 1e-4
    assert model.tokenizer.bos_token_id == 2 and model.tokenizer.add_bos_token


def test_real_gemma3_matches_the_registry(gemma3):
    assert gemma3.spec.name == "gemma-3-270m"
    assert gemma3.num_params() == zoo.count_params("gemma-3-270m").total == 268_098_176


def test_real_gemma3_logits_and_greedy_ids_equal_transformers(gemma3, gemma3_hf):
    """Logits on three kinds of text, one forward each; greedy decoding (a dozen forwards on
    each side) on the first only: the decoding loop is the same on any prompt, and three
    prompts tripled the test's time."""
    tok = gemma3.tokenizer
    prompts = ("The capital of France is", "def fibonacci(n):", "Water boils at")
    for prompt in prompts:
        ids = torch.tensor([tok.encode(prompt)])
        assert ids[0, 0] == tok.bos_token_id == 2
        with torch.no_grad():
            ours, theirs = gemma3(ids), gemma3_hf(ids).logits
        assert (ours - theirs).abs().max() <= 1e-3, prompt
    ids = torch.tensor([tok.encode(prompts[0])])
    with torch.no_grad():
        expected = gemma3_hf.generate(ids, max_new_tokens=12, do_sample=False)
    assert torch.equal(gemma3.generate(ids, max_new_tokens=12), expected)


def test_real_gemma3_tokenizer_equals_transformers(gemma3, gemma3_hf_tokenizer):
    ours, theirs = gemma3.tokenizer, gemma3_hf_tokenizer
    for text in ["The capital of France is", "Hello  world!\n\tcaf\u00e9 2024", "  leading",
                 "\u00dcn\u00efc\u00f6d\u00e9 \u2014 dashes\u2026 and emoji \U0001f389",
                 "def f(x):\n    return x**2  # comment", "<start_of_turn>user\nHi",
                 "\u65e5\u672c\u8a9e", "a\n\n\nb"]:
        ids = ours.encode(text)
        assert ids == theirs.encode(text), text
        assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(
            ids, skip_special_tokens=True), text


def test_real_gemma3_continues_from_the_command_line(gemma3_path, gemma3, capsys, monkeypatch):
    """The command as it runs, down to its call of from_gguf on the file; that call returns
    the session's model (`gemma3`: the same call, made once) rather than parsing the file a
    second time. test_cli_generate loads SmolLM2 through the command for real."""
    import functools

    import zoo.checkpoints.gguf
    from zoo.cli import main

    real, loads = zoo.checkpoints.gguf.from_gguf, []

    @functools.wraps(real)  # its signature too: zoo.load checks options against it
    def parsed_once(path, **options):
        loads.append((Path(path), options))
        if Path(path) == gemma3_path and set(options) <= {"progress"}:
            return gemma3
        return real(path, **options)

    monkeypatch.setattr(zoo.checkpoints.gguf, "from_gguf", parsed_once)
    assert main(["generate", str(gemma3_path), "--prompt", "The capital of France is",
                 "--max-new-tokens", "9"]) == 0
    assert [path for path, _ in loads] == [gemma3_path]
    assert capsys.readouterr().out.startswith(" the capital of the country of France.")


# --- kept quantized ---------------------------------------------------------------------------

def on_a_q4_0_grid(hf) -> None:
    """Every layer matrix of `hf` set to (q - 8) / 64 with q in 0..12 and q = 0 at each block's
    start: Q4_0 stores it exactly (its scale is the block's largest magnitude / 8), and a grid
    spanning each block's own min and max (codes 0..15) does not."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if ".layers." in name and p.dim() == 2:
                q = torch.randint(0, 13, p.shape, generator=generator)
                q.view(p.shape[0], -1, 32)[..., 0] = 0
                p.copy_((q - 8) / 64)


def q4_k_blocks(array: np.ndarray) -> np.ndarray:
    """Q4_K blocks for a matrix's shape (its values aside, which the gguf package cannot
    quantize to Q4_K): per 256 weights fp16 d and dmin, 6-bit scales and mins for each group
    of 32, and codes 0..12 with 0 first in each group, so that a grid spanning each group's
    min and max differs from the block's own."""
    rng = np.random.default_rng(0)
    rows, blocks = array.shape[0], array.shape[1] // 256
    d = rng.uniform(0.001, 0.01, (rows, blocks, 2)).astype(np.float16).view(np.uint8)
    scales = rng.integers(0, 64, (rows, blocks, 12), dtype=np.uint8)
    scales[..., 8:] = rng.integers(0, 256, (rows, blocks, 4), dtype=np.uint8)
    codes = rng.integers(0, 13, (rows, blocks, 8, 32), dtype=np.uint8)
    codes[..., 0] = 0
    # a block's 128 code bytes: groups 2j and 2j + 1 in the low and high nibbles of 32 bytes
    nibbles = codes.reshape(rows, blocks, 4, 2, 32)
    packed = nibbles[..., 0, :] | (nibbles[..., 1, :] << 4)
    parts = [d.reshape(rows, blocks, 4), scales, packed.reshape(rows, blocks, 128)]
    return np.concatenate(parts, -1).reshape(rows, blocks * 144)


def test_q4_k_blocks_are_what_gguf_reads():
    array = np.zeros((3, 512), np.float32)
    raw = q4_k_blocks(array)
    values = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q4_K)
    assert values.shape == array.shape and np.isfinite(values).all()


def test_int4_keeps_4_bit_k_blocks_and_packs_wider_tensors_int8(tmp_path):
    from zoo.checkpoints.gguf import code_bits
    from zoo.model.quantize import quantize

    assert [code_bits(t) for t in ("Q4_K", "IQ3_S", "Q5_0", "Q8_0", "F16", "BF16", "F32")] == \
        [4, 3, 5, 8, 16, 16, 32]
    spec = tiny_spec("llama-gqa").with_changes(d_model=256, d_ff=256)
    kinds = {"attn_output": "Q4_K", "ffn_down": "Q4_K", "attn_q": "Q5_0", "ffn_up": "Q8_0"}
    write_tiny_gguf(tmp_path / "k.gguf", spec, hf_model(spec), block_type=lambda name: next(
        (gguf.GGMLQuantizationType[t] for k, t in kinds.items() if f".{k}." in name), None))
    exact = from_gguf(tmp_path / "k.gguf")
    kept = zoo.load(tmp_path / "k.gguf", quantize="int4")
    spanned = quantize(from_gguf(tmp_path / "k.gguf"), "int4")
    assert kept.packed_modes == {**{f"blocks.{i}.{n}": m for i in range(2) for n, m in [
        ("attn.qkv", "int8"), ("attn.out", "int4"), ("mlp.fc_in", "int8"),
        ("mlp.fc_out", "int4")]}, "head": "int8"}
    eye = torch.eye(256)
    for name in ("blocks.0.attn.out", "blocks.1.mlp.fc_out"):
        weight = exact.get_submodule(name).weight
        with torch.no_grad():
            own = (kept.get_submodule(name)(eye).t() - weight).abs().max()
            requantized = (spanned.get_submodule(name)(eye).t() - weight).abs().max()
        assert own < requantized / 4  # the file's codes, on its grid rounded to bf16


def test_int4_keeps_a_gguf_files_own_4_bit_blocks(tmp_path):
    from zoo.model.quantize import PackedLinear, quantize

    spec = tiny_spec("llama-gqa")
    hf = hf_model(spec)
    on_a_q4_0_grid(hf)
    write_tiny_gguf(tmp_path / "q4_0.gguf", spec, hf, block_type=gguf.GGMLQuantizationType.Q4_0)
    exact = from_gguf(tmp_path / "q4_0.gguf")
    kept = zoo.load(tmp_path / "q4_0.gguf", quantize="int4")
    spanned = quantize(from_gguf(tmp_path / "q4_0.gguf"), "int4")
    eye = torch.eye(spec.d_model)
    packed = {n: m for n, m in kept.named_modules() if isinstance(m, PackedLinear)}
    assert {m.mode for n, m in packed.items() if n.startswith("blocks.")} == {"int4"}
    for name in ("blocks.0.attn.qkv", "blocks.1.mlp.fc_in"):  # q and k rows unpermuted too
        weight = exact.get_submodule(name).weight
        width = weight.shape[1]
        eye = torch.eye(width)
        assert torch.equal(kept.get_submodule(name)(eye).t(), weight)
        assert not torch.equal(spanned.get_submodule(name)(eye).t(), weight)


@pytest.mark.parametrize("mode", ["bf16", "int8"])  # int4 keeps the file's blocks (above)
def test_a_quantized_load_packs_each_layer_as_it_is_read(tmp_path, monkeypatch, mode):
    from zoo.model.quantize import quantize

    spec = tiny_spec("llama-gqa")
    write_tiny_gguf(tmp_path / "m.gguf", spec, hf_model(spec))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    after = quantize(from_gguf(tmp_path / "m.gguf"), mode)  # the float model whole, then packed
    seen = float_layers_while_packing(monkeypatch)
    streamed = zoo.load(tmp_path / "m.gguf", quantize=mode)
    # never more than the layer being packed and the tied head's embedding-fed twin
    assert seen and max(seen) <= 2 and len(seen) == len(after.packed_modes)
    assert streamed.packed_modes == after.packed_modes
    with torch.no_grad():
        assert torch.equal(streamed(ids), after(ids))
