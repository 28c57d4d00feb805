"""Plots render headless and draw what they say: one point per model, one bar per segment."""

from __future__ import annotations

import sys

import pytest

import zoo

pytest.importorskip("matplotlib")
from zoo import plot


def test_scale_has_a_point_per_model(tmp_path):
    fig, points = plot.scale()
    ax = fig.axes[0]
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == len(points) == len(zoo.list_models())
    assert ax.get_yscale() == "log"
    assert {t.get_text() for t in ax.get_legend().get_texts()} == set(zoo.families())
    labels = " ".join(t.get_text() for t in ax.texts)
    assert "gpt3-175b" in labels and "llama-13b / llama-2-13b" in labels
    out = plot.save(fig, tmp_path / "scale.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_breakdown_stacks_the_shares(tmp_path):
    names = ["openai-gpt", "gpt2-xl", "gpt3-175b", "llama-2-70b"]
    fig, rows = plot.breakdown(names)
    ax = fig.axes[0]
    segments = [s for s in plot.SEGMENTS if any(row[s] for row in rows)]
    assert len(ax.patches) == len(names) * len(segments)
    for x in range(len(rows)):  # each bar's stack reaches 100%
        tops = [p.get_y() + p.get_height() for p in ax.patches if abs(p.get_x() +
                p.get_width() / 2 - x) < 1e-6]
        assert max(tops) == pytest.approx(100)
    share = {row["name"]: row["embeddings"] for row in rows}
    assert 20 < share["openai-gpt"] < 30 and share["gpt3-175b"] < 1, share
    out = plot.save(fig, tmp_path / "b.svg")
    assert b"<svg" in out.read_bytes()[:500]


def test_memory_bars(tmp_path):
    names = ["gpt2", "mistral-7b-v0.1"]
    fig, rows = plot.memory(names)
    assert len(fig.axes[0].patches) == len(names) * len(plot.MEMORY_BARS)
    c = zoo.count_params("mistral-7b-v0.1")
    assert rows[1]["weights bf16"] == c.weight_bytes("bf16")
    assert rows[1]["KV cache at full context (bf16)"] == c.kv_cache_bytes(32768, "bf16")
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot.save(fig, tmp_path / "m.jpg")


def test_memory_footnotes_the_bar_that_rests_on_an_assumption(tmp_path):
    fig, rows = plot.memory(["gpt3-175b", "gpt2"])
    [caveat] = rows[0]["caveats"]
    assert caveat["under_alternative"] == {"KV cache at full context (bf16)": 9_663_676_416}
    assert rows[1]["caveats"] == []
    [footnote] = [t.get_text() for t in fig.texts]
    assert footnote == ("gpt3-175b, KV cache at full context (bf16): 5.134 GB [assumes the "
                        "unpublished local_window 128; dense: 9.664 GB]")
    plot.save(fig, tmp_path / "m.png")


def test_cli_plot(tmp_path, capsys):
    from zoo.cli import main

    assert main(["plot", "breakdown", "gpt2", "bloom-176b", "--out",
                 str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").is_file() and "2 models" in capsys.readouterr().out
    assert main(["plot", "memory"]) == 2
    assert "needs model names" in capsys.readouterr().err
    missing = tmp_path / "nowhere" / "b.png"
    assert main(["plot", "breakdown", "gpt2", "--out", str(missing)]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"]  # no partial file left


def test_breakdown_labels_fit_their_bars():
    """The embedding share is written on two lines, so a narrow bar does not cut it off."""
    fig, _ = plot.breakdown(["openai-gpt", "gpt2-xl", "gpt3-175b", "llama-2-70b", "gemma-3-270m",
                             "qwen3-32b", "mixtral-8x7b", "deepseek-v3", "kimi-k2"])
    fig.canvas.draw()
    ax = fig.axes[0]
    bar_width = ax.patches[0].get_window_extent().width
    labels = [t for t in ax.texts if t.get_text().startswith("embeddings")]
    assert len(labels) == 9
    assert all(t.get_window_extent().width <= bar_width for t in labels)


def test_missing_matplotlib_is_a_clear_message(monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'zoo\[plot\]'"):
        plot.scale()
    assert main(["plot", "scale", "--out", "x.png"]) == 2
    assert "zoo[plot]" in capsys.readouterr().err


def test_loss_curve_draws_every_step(tmp_path):
    history = [{"step": s, "loss": 5.0 - 0.1 * s, "sampling_rate": s / 40} for s in range(1, 21)]
    fig, data = plot.loss_curve(history, "tiny: fine-tuning loss")
    ax = fig.axes[0]
    assert [len(line.get_xdata()) for line in ax.lines] == [20, 20]  # loss and running mean
    assert data[-1]["running_mean"] == pytest.approx(sum(5.0 - 0.1 * s for s in range(11, 21))
                                                     / 10)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "scheduled-sampling rate"
    teacher_forced, _ = plot.loss_curve([{**row, "sampling_rate": 0.0} for row in history])
    assert len(teacher_forced.axes) == 1
    out = plot.save(fig, tmp_path / "loss.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
