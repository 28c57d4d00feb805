"""PyTorch's distributed stack: FSDP2 under torchrun (2 ranks, gloo, loopback), distributed
checkpoints resharded 2 -> 1 and 2 -> 2, accelerate offload, and `zoo plan` by hand. The
distributed checkpoint format in one process is tests/checkpoints/test_dcp.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from tests.tiny import tiny_spec
from zoo.accounting.plan import make_plan
from zoo.checkpoints import dcp as zoo_dcp

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["llama", "gpt2", "bloom"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Two ranks on loopback, killed with their whole process group on timeout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1",
           "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
               "--nproc-per-node", "2", "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{free_port()}", *args]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"torchrun {' '.join(args)} timed out after {timeout} s")
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    torchrun(str(ROOT / "tests" / "distributed_worker.py"), str(out), ",".join(LABELS))
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.parametrize("label", LABELS)
def test_sharded_equals_unsharded(sharded_run, label):
    _, ranks = sharded_run
    for result in ranks:
        r = result[label]
        assert r["logits_diff"] <= 1e-5 and r["loss_diff"] <= 1e-5
        assert r["step_diff"] <= 1e-6, "one AdamW step, sharded and not, same parameters"
        assert r["generate_equal"] and r["reload_equal"] and r["sliced_equal"]
        assert r["local_numel"] < 0.6 * r["total_numel"], "each rank holds about half"


@pytest.mark.parametrize("label", LABELS)
def test_checkpoint_from_two_ranks_loads_into_one(sharded_run, label):
    out, _ = sharded_run
    folder = out / f"ckpt-{label}"
    assert zoo_dcp.checkpoint_spec(folder) == tiny_spec(label)
    model = zoo.create_model(tiny_spec(label), seed=123)
    zoo_dcp.load_checkpoint(model, folder)
    expected = zoo.load(out / f"full-{label}.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 expected.state_dict().values(), strict=True))
    exported = zoo_dcp.checkpoint_to_zoo(folder, out / f"exported-{label}.safetensors")
    again = zoo.load(exported[0])
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 expected.state_dict().values(), strict=True))


def test_torchrun_generate_from_checkpoint(sharded_run):
    out, _ = sharded_run
    done = torchrun("-m", "zoo.distributed", "generate", str(out / "ckpt-llama"), "--ids",
                    "5,6,7,8", "--max-new-tokens", "6")
    printed = [line for line in done.stdout.splitlines() if "," in line]
    model = zoo.load(out / "full-llama.safetensors")
    expected = model.generate(torch.tensor([[5, 6, 7, 8]]), max_new_tokens=6)[0].tolist()
    assert printed == [",".join(map(str, expected))]


# --- accelerate: layers spread over CPU and disk -------------------------------------------

@pytest.mark.parametrize(("label", "memory"), [("llama", "10KB"), ("gpt2", "300KB"),
                                               ("falcon-7b", "200KB")])
def test_offloaded_generate_equals_in_memory(tmp_path, label, memory):
    pytest.importorskip("accelerate")
    model = zoo.create_model(tiny_spec(label).with_changes(n_layer=4), seed=0).eval()
    zoo.save(model, tmp_path / "m.safetensors")
    ids = torch.randint(0, 97, (2, 6), generator=torch.Generator().manual_seed(0))
    expected = model.generate(ids, max_new_tokens=10)
    offloaded = zoo.load(tmp_path / "m.safetensors", device_map="auto",
                         max_memory={"cpu": memory}, offload_folder=tmp_path / "offload")
    assert "disk" in set(offloaded.hf_device_map.values())
    assert torch.equal(offloaded.generate(ids, max_new_tokens=10), expected)
    beams = offloaded.generate(ids, max_new_tokens=6, num_beams=3)
    assert torch.equal(beams, model.generate(ids, max_new_tokens=6, num_beams=3))


# --- zoo plan, checked by hand ---------------------------------------------------------------

def test_plan_gpt3_175b_inference_on_8x80gb():
    plan = make_plan(zoo.get_spec("gpt3-175b"), devices=8, device_memory=80 * 10**9)
    n = 174_604_259_328
    block = 12 * 12288**2 + 13 * 12288  # 4 d^2 + 4d attention, 8 d^2 + 5d MLP, 4d norms
    root = n - 96 * block
    kv_positions = 48 * 2048 + 48 * 128  # dense layers hold 2048, banded ones their window
    assert plan.parts["weights bf16 (sharded)"] == n * 2 // 8
    assert plan.parts["gathered blocks and root bf16"] == (2 * block + root) * 2
    assert plan.parts["KV cache bf16"] == kv_positions * 2 * 12288 * 2
    assert plan.total == 57_318_786_048 and plan.fits
    assert plan.smallest_fit == 6  # 349.2 GB / 6 + 13.67 GB = 71.9 GB; on 5: 83.5 GB
    assert not make_plan(zoo.get_spec("gpt3-175b"), devices=5, device_memory=80 * 10**9).fits


def test_plan_training_and_limits():
    plan = make_plan(zoo.get_spec("gpt2"), devices=4, device_memory=16 * 2**30, train=True, batch=8,
                     context=1024)
    n = 124_439_808
    assert plan.parts["parameters fp32 (sharded)"] == n * 4 // 4
    assert plan.parts["Adam moments fp32 (sharded)"] == n * 8 // 4
    s, b, h, a = 1024, 8, 768, 12
    assert plan.parts["activations (checkpointed)"] == 12 * s * b * h * 2 + int(
        s * b * h * (34 + 5 * a * s / h))
    assert plan.fits
    huge = make_plan(zoo.get_spec("bloom-176b"), devices=8, device_memory=80 * 10**9, batch=512)
    assert not huge.fits and huge.smallest_fit is None  # its KV cache alone exceeds a device
    with pytest.raises(ValueError, match="context must be within"):
        make_plan(zoo.get_spec("gpt2"), devices=1, device_memory=10**9, context=5000)


def test_plan_cli(capsys):
    from zoo.cli import main

    assert main(["plan", "bloom-176b", "--gpus", "8", "--gpu-memory", "80GB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fits"] and data["per_device"]["weights bf16 (sharded)"] == \
        176_247_271_424 * 2 // 8
    assert main(["plan", "gpt3-175b", "--gpus", "1", "--train"]) == 0
    assert "does NOT fit" in capsys.readouterr().out
