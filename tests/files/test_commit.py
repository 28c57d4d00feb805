"""Saves under real faults: a process SIGKILLed at every step of a save, a real full file
system, and a reader running while another process saves. After each, the folder loads as
exactly the previous model or exactly the new one, and the next save leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import torch

import zoo
from tests.tiny import tiny_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = tiny_spec("llama").with_changes(n_layer=1)
SHARDED = "40KB"  # about three shards for SPEC
SINGLE = "1GB"


@pytest.fixture
def fast_tmp(tmp_path):
    """A folder in memory (/dev/shm) where there is one: these tests save hundreds of times, and
    a SIGKILL does not lose what the page cache holds, so syncing to a disk adds only time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="zoo-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def which(folder: Path, old: dict, new: dict) -> str:
    """'old' or 'new': what the folder loads as, exactly; anything else fails the test."""
    loaded = zoo.load(folder).state_dict()
    for label, expected in (("old", old), ("new", new)):
        if loaded.keys() == expected.keys() and all(torch.equal(loaded[k], expected[k])
                                                    for k in expected):
            return label
    raise AssertionError(f"{folder} loads as neither the old nor the new model")


def killed_at(step: int, model, folder: Path, limit: str) -> bool:
    """Save in a forked child that SIGKILLs itself just before its `step`-th file-system call
    (write, fsync, rename, unlink); False when the save finished before reaching it."""
    pid = os.fork()
    if pid == 0:  # the child: count the calls, die at the chosen one
        calls = {"n": 0}

        def counted(real):
            def call(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == step:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)
            return call

        for name in ("write", "fsync", "replace", "unlink"):
            setattr(os, name, counted(getattr(os, name)))
        try:
            zoo.save(model, folder, max_shard_size=limit)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.parametrize(("before", "after"), [(SINGLE, SHARDED), (SHARDED, SHARDED),
                                               (SHARDED, SINGLE), (SINGLE, SINGLE)])
def test_sigkill_at_every_step_leaves_old_or_new(fast_tmp, before, after):
    old_model, new_model = zoo.create_model(SPEC, seed=0), zoo.create_model(SPEC, seed=1)
    old, new = state(old_model), state(new_model)
    seen = set()
    step = 0
    while True:
        step += 1
        folder = fast_tmp / f"step{step}"
        zoo.save(old_model, folder, max_shard_size=before)
        if not killed_at(step, new_model, folder, after):
            break
        seen.add(which(folder, old, new))
        # the next save cleans up whatever the killed one left: only its own files remain
        files = zoo.save(new_model, folder, max_shard_size=after)
        assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in files)
        assert which(folder, old, new) == "new"
        shutil.rmtree(folder)
    assert step > 8, "the save makes more calls than this: the hook did not count them"
    assert seen == {"old", "new"}, "kills both before and after the commit"


def run_python(code: str, *args: str, timeout: int = 120,
               prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


FULL_DISK = """
    import json, os, subprocess, sys, torch, zoo
    from pathlib import Path
    from tests.tiny import tiny_spec
    from zoo.cli import main
    mount = Path(sys.argv[1])
    small = zoo.create_model(tiny_spec("gpt2"), seed=0)
    big = zoo.create_model(tiny_spec("gpt2").with_changes(d_model=256, n_head=4, d_ff=1024),
                           seed=1)
    out = {}
    for label, limit in (("single", "1GB"), ("sharded", "60KB")):
        folder = mount / label
        zoo.save(small, folder, max_shard_size=limit)
        before = sorted(p.name for p in folder.iterdir())
        try:
            zoo.save(big, folder, max_shard_size=limit)
            out[label] = "saved"
        except OSError as err:
            out[label] = [err.errno, str(err)]
        loaded = zoo.load(folder).state_dict()
        out[label + "_old"] = all(torch.equal(loaded[k], v) for k, v in
                                  small.state_dict().items())
        out[label + "_files"] = sorted(p.name for p in folder.iterdir()) == before
    src = mount.parent / "big.safetensors"
    zoo.save(big, src)
    out["cli"] = main(["convert", str(src), str(mount / "c.safetensors"), "--quiet"])
    print(json.dumps(out))
"""


def private_tmpfs(mount: Path, size: str) -> tuple[str, ...] | None:
    """A command prefix that runs a program with a tmpfs of `size` mounted at `mount`, in a
    mount namespace of its own (as root, or in a user namespace); None where neither works."""
    if shutil.which("unshare") is None:
        return None
    script = f'mount -t tmpfs -o size={size} tmpfs "{mount}" && exec "$0" "$@"'
    for unshare in (("unshare", "--user", "--map-root-user", "--mount"), ("unshare", "--mount")):
        prefix = (*unshare, "sh", "-c", script)
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def test_real_full_disk_keeps_previous_save(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    prefix = private_tmpfs(mount, "2m")
    if prefix is None:
        pytest.skip("cannot mount a small tmpfs here (no unshare, or no mount namespaces)")
    done = run_python(FULL_DISK, str(mount), prefix=prefix)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    for label in ("single", "sharded"):
        errno, message = out[label]
        assert errno == 28 and "previous files kept" in message and "No space left" in message
        assert out[label + "_old"] and out[label + "_files"], label
    assert out["cli"] == 2
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("layouts", [[SHARDED], [SINGLE, SHARDED, SHARDED]])
def test_load_while_another_process_saves(fast_tmp, layouts):
    """A forked process saves two models in turn (sharded, or switching layouts); every load
    meanwhile is exactly one of them."""
    folder, stop = fast_tmp / "m", fast_tmp / "stop"
    models = [zoo.create_model(SPEC, seed=0), zoo.create_model(SPEC, seed=1)]
    zoo.save(models[0], folder, max_shard_size=layouts[0])
    pid = os.fork()
    if pid == 0:
        saves = 0
        try:
            while not stop.exists():
                zoo.save(models[saves % 2], folder, max_shard_size=layouts[saves % len(layouts)])
                saves += 1
        finally:
            os._exit(0 if saves >= 2 else 1)
    try:
        seen = {"old": 0, "new": 0}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(seen.values()) < 20:
            seen[which(folder, state(models[0]), state(models[1]))] += 1
    finally:
        stop.touch()
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the saver failed"
    assert min(seen.values()) >= 20, seen
