"""Kernel choices measured on the machine (zoo.model.kernels): the cache file is written, read
back and keyed by CPU, torch and shape; a corrupt one is ignored and rewritten; every candidate
gives the same results (greedy tokens equal to the eager fp32 path); the int4 layers' prompt
path (the weight dequantized once per call) matches the int4 kernel; a packed head tied to the
embedding keeps no float copy of the table. No timing is asserted."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch

import zoo
from tests.tiny import tiny_spec
from zoo.model import kernels
from zoo.model.layers import ONEDNN_LINEAR, Linear
from zoo.model.quantize import (
    KERNELS,
    PackedEmbedding,
    PackedLinear,
    _int4_block,
    _int4_codes,
    _int4_pack,
    candidates,
    packed_bytes,
    quantize,
)


@pytest.fixture
def measured(monkeypatch, tmp_path):
    """Measuring on, into a cache file of the test's own, with a tiny budget."""
    path = tmp_path / "cache" / "kernels.json"
    monkeypatch.setenv("ZOO_AUTOTUNE", "1")
    monkeypatch.setenv("ZOO_KERNEL_CACHE", str(path))
    monkeypatch.delenv("ZOO_KERNEL", raising=False)
    monkeypatch.setattr(kernels, "BUDGET", 1e-4)
    monkeypatch.setattr(kernels, "MIN_RUNS", 1)
    monkeypatch.setattr(kernels, "MAX_COPIES", 4)
    monkeypatch.setattr(kernels, "waited", lambda: None)  # every run counts, busy or not
    kernels.reset_memory()
    yield path
    kernels.reset_memory()


def tiny(label: str = "llama-gqa") -> zoo.Model:
    return zoo.create_model(tiny_spec(label), seed=0).eval()


def ids_for(model: zoo.Model, batch: int = 1, length: int = 6) -> torch.Tensor:
    return torch.randint(0, model.spec.vocab_size, (batch, length),
                         generator=torch.Generator().manual_seed(4))


def layer(out_features: int = 48, in_features: int = 32) -> Linear:
    module = Linear(in_features, out_features)
    with torch.no_grad():
        module.weight.copy_(torch.randn(out_features, in_features))
        module.bias.copy_(torch.randn(out_features))
    return module


def run(*layers: Linear) -> list[str | None]:
    """Each layer once on a row (its first inference call: the kernel is chosen), and what
    each chose."""
    with torch.no_grad():
        for module in layers:
            module(torch.randn(1, module.in_features))
    return [module.kernel_choice()[0] for module in layers]


def test_the_cache_is_written_read_back_and_keyed_by_machine_and_shape(measured, monkeypatch):
    chosen = run(layer(48, 32), layer(32, 48))
    data = json.loads(measured.read_text())
    assert data["version"] == kernels.VERSION
    machine = kernels.machine()
    names = sorted(data["choices"])
    prefix = f"{machine['cpu']}|{machine['flags']}|torch {torch.__version__}|"
    assert names == [f"{prefix}{machine['threads']} threads|{shape}|float32|float|1 rows"
                     for shape in ("32x48", "48x32")]
    assert set(chosen) <= {"onednn", "linear", "linear_t"}
    assert [data["choices"][n]["kernel"] for n in names] == chosen[::-1]
    # a later process reads the file and measures nothing
    kernels.reset_memory()
    monkeypatch.setattr(kernels, "_timed", lambda runs: pytest.fail("measured again"))
    assert run(layer(48, 32), layer(32, 48)) == chosen
    # another CPU (or torch, or shape) is another key: measured anew
    timed = []
    monkeypatch.setattr(kernels, "_timed", lambda runs: timed.append(1)
                        or (dict.fromkeys(runs, 1.0), True))
    monkeypatch.setattr(kernels, "machine", lambda: {**machine, "cpu": "Another CPU"})
    run(layer(48, 32))
    assert timed
    assert any(n.startswith("Another CPU|") for n in json.loads(measured.read_text())["choices"])
    assert len(json.loads(measured.read_text())["choices"]) == 3


def test_every_timed_run_reads_its_weight_from_memory(measured, monkeypatch):
    """Decoding streams every weight from memory, so the candidates are timed over copies of
    the weight in turn, as many as fill twice the largest cache (at most MAX_COPIES)."""
    assert kernels.cache_bytes() >= 2**10  # read from the system, or assumed
    monkeypatch.setattr(kernels, "cache_bytes", lambda: 10_000)
    weight = torch.zeros(10, 100)  # 4,000 bytes: 5 copies fill 20,000
    turn = kernels.rotation(weight, weight.nbytes, torch.clone)
    seen = [turn() for _ in range(10)]
    assert seen[0] is weight and len({t.data_ptr() for t in seen}) == 4  # MAX_COPIES
    monkeypatch.setattr(kernels, "MAX_COPIES", 256)
    turn = kernels.rotation(weight, weight.nbytes, torch.clone)
    assert len({turn().data_ptr() for _ in range(10)}) == 5
    big = kernels.rotation(weight, 50_000, torch.clone)  # larger than the cache: itself
    assert {big().data_ptr() for _ in range(3)} == {weight.data_ptr()}
    copies: list[torch.Tensor] = []  # made at the first run, not before: a choice read from
    lazy = kernels.rotation(weight, weight.nbytes,  # the cache runs nothing and copies nothing
                            lambda t: copies.append(t.clone()) or copies[-1])
    assert not copies
    assert lazy() is weight and len(copies) == 4 and lazy() is copies[0]
    # a layer's candidates (both layouts) and a packing's are timed on copies
    real = kernels.rotation
    made: list[int] = []
    monkeypatch.setattr(kernels, "rotation", lambda first, nbytes, copy: made.append(nbytes)
                        or real(first, nbytes, copy))
    run(layer(48, 32))
    assert made == [48 * 32 * 4] * 2
    made.clear()
    monkeypatch.setenv("ZOO_AUTOTUNE", "1")
    PackedLinear("bf16", torch.randn(48, 64), None)
    assert len(made) == len(candidates("bf16", 48, 64)) and made[-1] == 48 * 64 * 2


def test_a_large_weight_is_timed_on_its_first_rows(measured, monkeypatch):
    """Beyond twice the largest cache, only as many rows as fill it are timed (a multiple of
    64), and the layer then runs the chosen kernel over all of its rows."""
    monkeypatch.setattr(kernels, "cache_bytes", lambda: 16 * 1024)  # 32 KiB: 128 fp32 rows of 64
    assert kernels.timed_rows(1000, 256) == 128 and kernels.timed_rows(100, 256) == 100
    assert kernels.timed_rows(1000, 300) == 128  # 110 rows, rounded up to the block
    real = kernels.rotation
    made: list[int] = []
    monkeypatch.setattr(kernels, "rotation", lambda first, nbytes, copy: made.append(nbytes)
                        or real(first, nbytes, copy))
    big = layer(1000, 64)
    x = torch.randn(3, 64)
    with torch.no_grad():
        big(x[:1])  # chooses
        assert made and set(made) == {128 * 64 * 4}
        assert torch.allclose(big(x), x @ big.weight.t() + big.bias, atol=1e-5)
    made.clear()
    weight = torch.randn(1024, 64)
    packed = PackedLinear("bf16", weight, None)
    assert made and set(made) == {256 * 64 * 2}  # 32 KiB of bf16 rows of 64: 256
    with torch.no_grad():
        y = packed(x)
    assert y.shape == (3, 1024)
    assert torch.allclose(y, x.bfloat16().float() @ weight.bfloat16().float().t(), rtol=2e-2,
                          atol=2e-2)


def test_runs_disturbed_by_other_work_are_set_aside(measured, monkeypatch):
    """A run during which the process's threads waited for a CPU is not counted; a candidate
    with no undisturbed run stands in by its disturbed ones and marks the timing contended."""
    clock = iter(range(10**6))
    waits = {"fast": 0.0, "slow": 0.0, "busy": 0.0}
    calls = dict.fromkeys(waits, 0)
    monkeypatch.setattr(kernels, "_once", lambda run: run())
    monkeypatch.setattr(kernels, "waited", lambda: int(sum(waits.values()) * 1e9))

    def candidate(name: str, seconds: float, disturbed: set[int]) -> Any:
        def go() -> float:
            tick = next(clock)
            calls[name] += 1
            if tick in disturbed:  # another process ran: 10 s late, 9 s of it waiting
                waits[name] += 9.0
                return seconds + 10.0
            return seconds
        return go

    # the faster candidate's first runs were disturbed (and so took longer than the other's)
    times, undisturbed = kernels._timed({"fast": candidate("fast", 1.0, {0, 2}),
                                         "slow": candidate("slow", 2.0, set())})
    assert times == {"fast": 1.0, "slow": 2.0} and undisturbed
    assert calls["fast"] == kernels.MIN_RUNS + 2  # its disturbed runs were run again
    times, undisturbed = kernels._timed({"busy": candidate("busy", 1.0, set(range(10**6)))})
    assert times == {"busy": 11.0} and not undisturbed
    assert calls["busy"] == kernels.MAX_TRIES  # all disturbed: tried, then given up


def test_a_contended_choice_is_measured_again_until_a_quiet_one_replaces_it(measured,
                                                                            monkeypatch):
    timed = []
    quiet = [False]
    monkeypatch.setattr(kernels, "_timed", lambda runs: timed.append(1)
                        or (dict.fromkeys(runs, 1.0), quiet[0]))
    run(layer())
    entry, = json.loads(measured.read_text())["choices"].values()
    assert entry["contended"] and len(timed) == 1
    kernels.reset_memory()
    quiet[0] = True
    run(layer())  # measured again, and now kept
    assert len(timed) == 2
    entry, = json.loads(measured.read_text())["choices"].values()
    assert "contended" not in entry
    kernels.reset_memory()
    run(layer())  # read back
    assert len(timed) == 2


def test_waited_reads_the_threads_run_queue_time():
    """On Linux, the sum over the process's threads (more time, never less); else None."""
    first = kernels.waited()
    if first is None:
        pytest.skip("this system does not report run-queue waits")
    second = kernels.waited()
    assert isinstance(first, int) and second is not None and second >= first >= 0


def test_a_corrupt_cache_is_ignored_and_rewritten(measured):
    measured.parent.mkdir(parents=True)
    for corrupt in ['{"version": 2, "choices": [', '[1, 2]', '{"version": 2, "choices": 3}',
                    '[' * 100_000 + ']' * 100_000, '{"version": 1, "choices": {}}']:
        measured.write_text(corrupt)
        kernels.reset_memory()
        assert run(layer())[0] is not None
        assert len(json.loads(measured.read_text())["choices"]) == 1
    assert not list(measured.parent.glob(".kernels.*"))  # no temporary file left


def test_a_cache_file_larger_than_the_limit_is_not_read(measured, monkeypatch):
    machine = kernels.machine()
    name = kernels.key((48, 32), torch.float32, "float", 1)
    assert name.startswith(machine["cpu"])
    measured.parent.mkdir(parents=True)
    measured.write_text(json.dumps({"version": kernels.VERSION, "choices": {
        name: {"kernel": "linear"}}, "pad": "x" * kernels.MAX_FILE}))
    timed = []
    monkeypatch.setattr(kernels, "_timed", lambda runs: timed.append(1)
                        or (dict.fromkeys(runs, 1.0), True))
    run(layer(48, 32))
    assert timed  # measured: the file's choice was not read
    assert measured.stat().st_size < 10_000  # and the file was rewritten


def test_a_forced_kernel_that_does_not_exist_is_refused(measured, monkeypatch):
    monkeypatch.setenv("ZOO_KERNEL", "onedn")  # a typo of onednn
    with pytest.raises(ValueError, match=r"ZOO_KERNEL=onedn is not one of zoo's kernels: .*"
                                         r"int4pack.*linear_t.*onednn"):
        run(layer())
    monkeypatch.setenv("ZOO_KERNEL", "linear_t")
    assert run(layer()) == ["linear_t"]
    monkeypatch.setenv("ZOO_KERNEL", "int4pack")  # a kernel, though no candidate of this layer
    assert run(layer())[0] in ("onednn", "linear", "linear_t")  # measured as usual
    # every kernel a layer offers is named in the table
    from zoo.model.layers import NATIVE

    float_layers = {"onednn", "linear", "linear_t"} | {own for own, _ in NATIVE.values()}
    assert set(KERNELS) | float_layers | set(kernels.FUSED) == set(kernels.NAMES)


def test_measuring_off_keeps_the_fixed_kernels(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_AUTOTUNE", "0")
    monkeypatch.setenv("ZOO_KERNEL_CACHE", str(tmp_path / "kernels.json"))
    assert run(layer()) == ["onednn" if ONEDNN_LINEAR is not None else "linear"]
    weight = torch.randn(48, 64)
    assert PackedLinear("int8", weight, None).kernel == "int4pack_planes"
    assert PackedLinear("int8", weight[:, :48], None).kernel == "int8pack"
    assert PackedLinear("bf16", weight, None).kernel == candidates("bf16", 48, 64)[0]
    assert not (tmp_path / "kernels.json").exists()


@pytest.mark.parametrize("label", ["llama-gqa", "gpt2"])
def test_every_float_kernel_gives_the_eager_greedy_tokens(measured, label):
    base = tiny(label)
    ids = ids_for(base, batch=2)
    with torch.enable_grad():  # the eager path: F.linear, no kernel choice
        eager = base(ids).detach()
    expected = tiny(label).generate(ids, max_new_tokens=8, use_cache=False)
    for kernel in ["onednn", "linear", "linear_t"] if ONEDNN_LINEAR is not None else \
            ["linear", "linear_t"]:
        model = tiny(label)
        with kernels.forcing(kernel), torch.no_grad():
            logits = model(ids)
            tokens = model.generate(ids, max_new_tokens=8)
        ran = kernels.summary(model.modules())["kernel"]
        assert kernel in ran, ran
        torch.testing.assert_close(logits, eager, rtol=1e-5, atol=1e-5)
        assert torch.equal(tokens, expected), kernel
    transposed = [m for m in model.modules() if isinstance(m, Linear) and not m.shared]
    assert not transposed[0].weight.is_contiguous()  # linear_t rewrote the storage in place
    assert model.head.shared == model.spec.tie_embeddings
    assert model.embed.weight.is_contiguous()  # a tied head keeps the embedding's layout


@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_every_packing_of_a_mode_gives_the_same_results(measured, mode):
    base = tiny()
    ids = ids_for(base, batch=2)
    results = []
    for kernel in candidates(mode, 64, 64):
        with kernels.forcing(kernel):
            model = quantize(copy.deepcopy(base), mode)
            with torch.no_grad():
                results.append((kernel, model(ids), model.generate(ids, max_new_tokens=8)))
        assert model.blocks[0].attn.out.kernel == kernel
    for _, logits, tokens in results[1:]:  # the same numbers, rounded at other places:
        torch.testing.assert_close(logits, results[0][1], rtol=0.01, atol=0.01)
        assert torch.equal(tokens[:, :-7], results[0][2][:, :-7])  # (random tiny models'
        # logits are close to ties: only the first token is compared)


@pytest.mark.parametrize("rows", [16, 48, 80, 144])
def test_int4_rows_are_read_back_from_the_packed_layout(rows):
    assert _int4_block() in (32, 64)
    codes = torch.randint(0, 16, (rows, 64), generator=torch.Generator().manual_seed(rows))
    packed = _int4_pack(codes.to(torch.int32))
    block = _int4_block()
    assert torch.equal(_int4_codes(packed, 64, block, torch.arange(rows)).long(), codes)
    picked = torch.tensor([rows - 1, 0, rows // 2, rows - 1])
    assert torch.equal(_int4_codes(packed, 64, block, picked).long(), codes[picked])


def test_the_int4_prompt_path_matches_the_int4_kernel(measured):
    weight = torch.randn(80, 64, generator=torch.Generator().manual_seed(5))
    layer = PackedLinear("int4", weight, None)
    x = torch.randn(40, 64, generator=torch.Generator().manual_seed(6)).to(torch.bfloat16)
    kernel = KERNELS["int4pack"](x, layer).float()
    for name in ["dequant_fp32", "dequant_bf16"]:
        got = KERNELS[name](x, layer).float()
        bound = 0.02 * kernel.abs().max()
        assert float((got - kernel).abs().max()) <= bound, name
    # the whole model: prompts through the dequantized weights, steps through the kernel
    base = quantize(tiny(), "int4")
    ids = ids_for(base, batch=2, length=12)
    with kernels.forcing("int4pack"), torch.no_grad():
        reference = base(ids)
        expected = base.generate(ids, max_new_tokens=8)
    model = quantize(tiny(), "int4")
    with kernels.forcing("dequant_fp32"), torch.no_grad():
        got = model(ids)
        tokens = model.generate(ids, max_new_tokens=8)
    assert "dequant_fp32" in kernels.summary(model.modules())["many_rows"]
    torch.testing.assert_close(got, reference, rtol=0.02, atol=0.02)
    assert torch.equal(tokens, expected)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_a_packed_tied_head_keeps_no_float_embedding(mode):
    base = tiny("gemma3")
    assert base.spec.tie_embeddings
    table = base.embed.weight.numel() * base.embed.weight.element_size()
    model = quantize(copy.deepcopy(base), mode)
    assert isinstance(model.embed, PackedEmbedding)
    vocab, width = base.embed.weight.shape
    float_tables = [t for t in [*model.parameters(), *model.buffers()]
                    if t.shape == (vocab, width) and t.is_floating_point()]
    assert not float_tables
    assert packed_bytes(model) < packed_bytes(quantize(copy.deepcopy(base), mode)) + 1 and \
        packed_bytes(model) < packed_bytes(base) - table
    ids = ids_for(base, batch=2)
    rows = model.head.rows(ids.reshape(-1))
    torch.testing.assert_close(model.embed(ids), rows.view(2, 6, width))
    error = (model.embed(ids) - base.embed(ids).detach()).abs().max()
    assert float(error) <= 0.01 * float(base.embed.weight.detach().abs().max())  # int8 rows
    with torch.no_grad():
        got, expected = model(ids), base(ids)
    assert float((got - expected).norm() / expected.norm()) < (0.05 if mode == "int8" else 0.4)


def test_each_cache_version_has_a_file_of_its_own(measured, monkeypatch, tmp_path):
    """Another zoo version's file (version 2 wrote kernels.json) is neither read nor
    rewritten: two versions on one machine keep their own choices."""
    monkeypatch.delenv("ZOO_KERNEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    older = tmp_path / "xdg" / "zoo" / "kernels.json"
    older.parent.mkdir(parents=True)
    older.write_text('{"version": 2, "choices": {}}')
    kernels.reset_memory()
    run(layer())
    assert kernels.cache_path() == tmp_path / "xdg" / "zoo" / f"kernels-v{kernels.VERSION}.json"
    assert json.loads(kernels.cache_path().read_text())["version"] == kernels.VERSION
    assert older.read_text() == '{"version": 2, "choices": {}}'
