"""GGUF out (`zoo.checkpoints.gguf.to_gguf`): what llama.cpp's converter would write, read back
by zoo's reader (which tests/checkpoints/test_gguf.py holds to transformers), for tiny models
and the real SmolLM2; and what cannot be written, refused before anything is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from tests.tiny import SMALL, tiny_spec
from zoo.checkpoints.gguf import ENCODERS, from_gguf, permute, to_gguf, unpermute
from zoo.cli import main
from zoo.files.gguf import GGUFFile
from zoo.spec import architecture_key
from zoo.testing import byte_tokenizer

gguf = pytest.importorskip("gguf")


def tiny(label: str) -> zoo.Model:
    """A tiny model with a byte-level tokenizer. Gemma 3's is the 270M's layout (five local
    layers to one global, the head width scaling scores), which llama.cpp's metadata implies;
    the tiny family's own (a 1-in-3 pattern) it cannot state (refused, below)."""
    spec = tiny_spec(label).with_changes(vocab_size=256)
    if label == "gemma3":
        spec = zoo.get_spec("gemma-3-270m").with_changes(
            **{**SMALL, "n_layer": 6, "vocab_size": 256}, d_head=16, query_pre_attn_scalar=16.0,
            local_window=8, name="tiny-gemma3-gguf", aliases=[])
    model = zoo.create_model(spec, seed=0)
    model.tokenizer = byte_tokenizer()
    return model.eval()


def logits(model: zoo.Model) -> torch.Tensor:
    ids = torch.randint(0, 256, (2, 11), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(ids)


@pytest.mark.parametrize("label", ["llama-gqa", "smollm2", "gemma3"])
def test_f32_round_trip_is_exact(tmp_path, label):
    """Every weight back as it was (q and k permuted and unpermuted, Gemma's norms stored as
    1 + w and taken off again), the same spec, the same logits."""
    model = tiny(label)
    to_gguf(model, tmp_path / "m.gguf")
    back = from_gguf(tmp_path / "m.gguf")
    assert architecture_key(back.spec) == architecture_key(model.spec)
    mine, theirs = model.state_dict(), back.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine), label
    assert torch.equal(logits(back), logits(model))
    assert back.tokenizer.encode("harbour 12") == model.tokenizer.encode("harbour 12")


def test_the_file_is_what_llama_cpp_reads(tmp_path):
    """llama.cpp's layout: norms in F32 whatever the matrices, the q and k rows permuted per
    head as its converter permutes them, its metadata keys and file type."""
    model = tiny("llama-gqa")
    to_gguf(model, tmp_path / "m.gguf", tensor_type="F16")
    file = GGUFFile(tmp_path / "m.gguf")
    spec = model.spec
    assert file.fields["general.architecture"] == "llama"
    assert file.fields["general.file_type"] == 1  # LLAMA_FTYPE_MOSTLY_F16
    assert file.fields["llama.attention.head_count_kv"] == spec.kv_heads
    assert file.fields["tokenizer.ggml.pre"] == "gpt-2"
    assert file.type_name("blk.0.attn_norm.weight") == "F32"
    assert file.type_name("blk.0.attn_q.weight") == "F16"
    q = model.blocks[0].attn.qkv.weight[:spec.n_head * spec.head_dim]
    stored = torch.from_numpy(file.dequantize("blk.0.attn_q.weight"))
    # llama.cpp's permutation (tests/checkpoints/test_gguf.py's own copy of its converter's)
    heads, rows = spec.n_head, q.shape[0]
    expected = q.detach().half().float().reshape(heads, 2, rows // heads // 2, -1) \
        .swapaxes(1, 2).reshape(q.shape)
    assert torch.equal(stored, expected)
    assert torch.equal(unpermute(permute(q, heads), heads), q)


def test_q8_0_is_half_a_step_from_each_weight(tmp_path):
    """Q8_0: a scale per block of 32 (the largest magnitude / 127, stored in fp16), each
    weight its nearest step (llama.cpp's own quantizer writes the same bytes:
    tools/gguf_llama_cpp.py)."""
    model = tiny("smollm2")
    to_gguf(model, tmp_path / "m.gguf", tensor_type="Q8_0")
    file = GGUFFile(tmp_path / "m.gguf")
    assert file.fields["general.file_type"] == 7 and file.fields[
        "general.quantization_version"] == 2
    w = model.blocks[1].mlp.fc_out.weight.detach().numpy()
    assert file.type_name("blk.1.ffn_down.weight") == "Q8_0"
    got = file.dequantize("blk.1.ffn_down.weight")
    blocks = w.reshape(-1, 32)
    step = (np.abs(blocks).max(1) / 127)[:, None]
    stored = step.astype(np.float16).astype(np.float32)  # codes rounded by the exact step
    bound = step / 2 + 127 * np.abs(stored - step) + 1e-9
    assert np.all(np.abs(got.reshape(-1, 32) - blocks) <= bound)
    assert not np.array_equal(got, w)  # quantized, not stored as floats


@pytest.mark.parametrize("kind", ["Q4_0", "Q4_1"])
def test_4_bit_blocks_stay_within_a_step(tmp_path, kind):
    """Q4_0 (a scale per block of 32) and Q4_1 (a scale and a minimum): every weight within
    one step of its block's grid (llama.cpp's own quantizer writes the same bytes:
    tools/gguf_llama_cpp.py)."""
    model = tiny("smollm2")
    to_gguf(model, tmp_path / "m.gguf", tensor_type=kind)
    file = GGUFFile(tmp_path / "m.gguf")
    w = model.blocks[0].mlp.fc_out.weight.detach().numpy().reshape(-1, 32)
    assert file.type_name("blk.0.ffn_down.weight") == kind
    got = file.dequantize("blk.0.ffn_down.weight").reshape(-1, 32)
    width = np.abs(w).max(1) / 8 if kind == "Q4_0" else np.ptp(w, 1) / 15
    assert np.all(np.abs(got - w) <= width[:, None] * 1.01)
    assert not np.array_equal(got, w)


def test_bf16_weights_are_kept_bit_for_bit(tmp_path):
    model = tiny("gemma3").to(torch.bfloat16)
    to_gguf(model, tmp_path / "m.gguf")  # the model's own dtype
    file = GGUFFile(tmp_path / "m.gguf")
    assert file.type_name("blk.0.attn_v.weight") == "BF16"
    back = from_gguf(tmp_path / "m.gguf", dtype="bf16")
    mine, theirs = model.state_dict(), back.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_a_gguf_files_tokenizer_is_written_back_as_it_was(tmp_path, smollm2_path):
    """The real SmolLM2 (its Q4_1 file) to F32 and back: llama.cpp's own tokenizer metadata
    kept key by key, the architecture's metadata as the file had it, and the same logits."""
    to_gguf(from_gguf(smollm2_path), tmp_path / "smol.gguf")
    source, written = GGUFFile(smollm2_path), GGUFFile(tmp_path / "smol.gguf")
    for key, value in source.fields.items():
        if key.startswith(("tokenizer.", "llama.")):
            assert written.fields[key] == value, key
    a, b = from_gguf(smollm2_path), from_gguf(tmp_path / "smol.gguf")
    assert torch.equal(logits(a), logits(b))


def test_embedding_rows_past_the_vocabulary_are_unused_tokens(tmp_path):
    """As llama.cpp's converter pads a vocabulary shorter than the embedding (Qwen2.5's 151,665
    tokens over 151,936 rows): [PAD<id>] tokens of type UNUSED, so that its vocabulary's size
    is the embedding's; a vocabulary larger than the embedding is refused."""
    spec = tiny_spec("llama").with_changes(vocab_size=300)
    model = zoo.create_model(spec, seed=0)
    model.tokenizer = byte_tokenizer()
    to_gguf(model, tmp_path / "m.gguf")
    fields = GGUFFile(tmp_path / "m.gguf").fields
    assert len(fields["tokenizer.ggml.tokens"]) == 300
    assert fields["tokenizer.ggml.tokens"][256:258] == ["[PAD256]", "[PAD257]"]
    assert list(fields["tokenizer.ggml.token_type"][255:257]) == [1, 5]
    back = from_gguf(tmp_path / "m.gguf")
    assert back.tokenizer.encode("harbour") == model.tokenizer.encode("harbour")
    assert torch.equal(back.embed.weight, model.embed.weight)
    small = zoo.create_model(tiny_spec("llama").with_changes(vocab_size=200), seed=0)
    small.tokenizer = byte_tokenizer()
    with pytest.raises(ValueError, match="256 tokens are more than the model's 200 embedding"):
        to_gguf(small, tmp_path / "s.gguf")


def test_a_hugging_face_byte_level_tokenizer_gets_llama_cpp_s_name(tmp_path):
    """SmolLM's tokenizer.json (digits split, then GPT-2's byte level) is llama.cpp's
    `smollm`; the vocabulary in id order, special tokens as control tokens."""
    from tokenizers import AddedToken, pre_tokenizers

    model = tiny("smollm2")
    backend = model.tokenizer.backend
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    backend.add_special_tokens([AddedToken("<|im_end|>", special=True)])
    model.tokenizer.eos_token = "<|im_end|>"
    fields = model.tokenizer.gguf_fields()
    assert fields["tokenizer.ggml.pre"] == "smollm"
    assert fields["tokenizer.ggml.tokens"][256] == "<|im_end|>"
    assert fields["tokenizer.ggml.token_type"][256] == 3 and fields[
        "tokenizer.ggml.token_type"][0] == 1
    assert fields["tokenizer.ggml.eos_token_id"] == 256


@pytest.mark.parametrize(("split", "name"), [
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
     r"|\s*[\r\n]+|\s+(?!\S)|\s+", "qwen2"),
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
     r"|\s*[\r\n]+|\s+(?!\S)|\s+", "llama-bpe"),
])
def test_a_split_before_the_byte_level_step_is_named_by_its_expression(split, name):
    """Qwen2's and LLaMA 3's tokenizer.json: their split, then bytes (trim_offsets either
    way: it moves offsets, not tokens)."""
    from tokenizers import Regex, pre_tokenizers

    model = tiny("llama")
    model.tokenizer.backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    assert model.tokenizer.gguf_fields()["tokenizer.ggml.pre"] == name


def test_what_llama_cpp_cannot_state_is_refused_before_writing(tmp_path):
    from tokenizers import pre_tokenizers

    from zoo.architectures import UnsupportedConfigError

    with pytest.raises(UnsupportedConfigError, match="written as mistral"):
        to_gguf(tiny("mistral"), tmp_path / "a.gguf")  # a sliding window: no llama key
    with pytest.raises(UnsupportedConfigError, match="GGUF layout for gemma3, llama"):
        to_gguf(tiny("gpt2"), tmp_path / "b.gguf")
    banded = zoo.create_model(tiny_spec("gemma3").with_changes(vocab_size=256), seed=0)
    banded.tokenizer = byte_tokenizer()
    with pytest.raises(UnsupportedConfigError, match="gemma3 metadata cannot state it"):
        to_gguf(banded, tmp_path / "b.gguf")  # one global layer in 3, scores scaled by 24
    bare = tiny("llama")
    bare.tokenizer = None
    with pytest.raises(ValueError, match="has no tokenizer"):
        to_gguf(bare, tmp_path / "c.gguf")
    odd = tiny("llama")
    odd.tokenizer.backend.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(ValueError, match=r"pre-tokenizer .* llama\.cpp name"):
        to_gguf(odd, tmp_path / "d.gguf")
    from tokenizers import Tokenizer as Backend
    from tokenizers import models

    spm = tiny("llama")
    spm.tokenizer = zoo.Tokenizer(Backend(models.BPE(
        {"<unk>": 0, **{f"<0x{b:02X}>": b + 1 for b in range(256)}}, [], byte_fallback=True)))
    with pytest.raises(ValueError, match="this one is SentencePiece-style BPE"):
        to_gguf(spm, tmp_path / "e.gguf")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    model = tiny("llama")
    to_gguf(model, tmp_path / "m.gguf")
    before = (tmp_path / "m.gguf").read_bytes()

    def broken(t):
        raise OSError(28, "No space left on device")
    monkeypatch.setitem(ENCODERS, "F16", broken)
    with pytest.raises(OSError, match="No space"):
        to_gguf(model, tmp_path / "m.gguf", tensor_type="F16")
    assert [p.name for p in tmp_path.iterdir()] == ["m.gguf"]
    assert (tmp_path / "m.gguf").read_bytes() == before


def test_convert_writes_gguf_and_refuses_flags_of_other_formats(tmp_path, capsys):
    model = tiny("llama")
    zoo.save(model, tmp_path / "m.safetensors")
    src = str(tmp_path / "m.safetensors")
    assert main(["convert", src, str(tmp_path / "m.gguf"), "--gguf-type", "BF16",
                 "--quiet"]) == 0
    assert GGUFFile(tmp_path / "m.gguf").type_name("blk.0.attn_q.weight") == "BF16"
    assert main(["convert", src, str(tmp_path / "x.gguf"), "--max-shard-size", "1GB"]) == 2
    assert "--max-shard-size does not apply to the gguf format" in capsys.readouterr().err
    assert main(["convert", src, str(tmp_path / "hf"), "--gguf-type", "Q8_0"]) == 2
    assert "--gguf-type does not apply to the hf format" in capsys.readouterr().err
    assert main(["convert", src, str(tmp_path / "out.bin"), "--format", "gguf"]) == 2
    assert "one file named *.gguf" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf", "m.safetensors"]


@pytest.mark.parametrize("label", ["qwen2", "qwen3", "llama-gqa"])
def test_a_hugging_face_checkpoint_through_gguf_gives_transformers_logits(label):
    """Qwen2 (biased q, k, v) and Qwen3 (q/k norms), unpermuted, and LLaMA, permuted: a
    transformers model, through zoo, into a GGUF file and back."""
    import tempfile

    from zoo.testing import hf_model, zoo_from_hf

    spec = tiny_spec(label).with_changes(vocab_size=256)
    hf = hf_model(spec)
    model = zoo_from_hf(spec, hf)
    model.tokenizer = byte_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        to_gguf(model, f"{folder}/m.gguf")
        arch = GGUFFile(f"{folder}/m.gguf").fields["general.architecture"]
        back = from_gguf(f"{folder}/m.gguf")
    ids = torch.randint(0, 256, (1, 10), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (back(ids) - hf(ids).logits).abs().max() <= 1e-4
    assert arch == {"llama-gqa": "llama"}.get(label, label)


def test_every_layout_names_what_llama_cpp_names():
    """Each GGUF layout's tensors and metadata keys are among those llama.cpp's own Python
    package (gguf) lists for the architecture."""
    from gguf.constants import MODEL_ARCH_NAMES, MODEL_TENSORS, TENSOR_NAMES, Keys

    from zoo.architectures import ARCHITECTURES

    arch_of = {name: arch for arch, name in MODEL_ARCH_NAMES.items()}
    keys = {v for group in vars(Keys).values() if isinstance(group, type)
            for v in vars(group).values() if isinstance(v, str)}
    layouts = {e.gguf.arch: e.gguf for e in ARCHITECTURES.values() if e.gguf is not None}
    assert {"llama", "qwen2", "qwen3", "gemma3"} <= set(layouts)
    for name, layout in layouts.items():
        known = {TENSOR_NAMES[t] for t in MODEL_TENSORS[arch_of[name]]}
        for template in layout.tensors:
            stem = template.rsplit(".", 1)[0].replace("{i}", "{bid}")
            assert stem in known, (name, template)
        for key in layout.fields(tiny(name).spec):  # a tiny family of each name
            assert key.replace(f"{name}.", "{arch}.", 1) in keys, (name, key)
