"""Folders zoo writes into without owning them: a file replaced without following a symlink,
and run folders (manifest, staging, journal, lock). No torch, no model: milliseconds."""

from __future__ import annotations

import json
import os

import pytest

from zoo.files.folder import FolderError, RunFolder, created, replace_file


def open_run(path):
    return RunFolder.open(path, "state.json", what="a test run")


def commit(folder, files, step):
    with folder.staging() as stage:
        for name, text in files.items():
            (stage / name).write_text(text)
        folder.commit(stage, {"step": step})


def test_replace_file_replaces_a_link_and_leaves_its_target(tmp_path):
    blob = tmp_path / "blob"
    blob.write_text("shared")
    (tmp_path / "folder").mkdir()
    link = tmp_path / "folder" / "config.json"
    link.symlink_to(blob)
    replace_file(link, b"{}")
    assert blob.read_text() == "shared" and not link.is_symlink() and link.read_text() == "{}"
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["config.json"]


def test_created_removes_what_it_made_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), created(tmp_path / "a" / "b" / "c"):
        raise RuntimeError("refused")
    assert not (tmp_path / "a").exists()


def test_a_commit_replaces_zoo_s_files_only(tmp_path):
    run = tmp_path / "run"
    with open_run(run) as folder:
        commit(folder, {"weights": "1", "old-only": "1"}, 1)
    (run / "notes.txt").write_text("mine")
    with open_run(run) as folder:
        assert folder.state()["files"] == ["old-only", "weights", "state.json"]
        commit(folder, {"weights": "2"}, 2)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt", "state.json", "weights"]
    assert (run / "weights").read_text() == "2" and (run / "notes.txt").read_text() == "mine"


def test_one_writer_at_a_time_and_a_dead_holder_s_lock_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    in_use = rf"{run} is in use by another zoo process \(pid {os.getpid()} on"
    with open_run(run), pytest.raises(FolderError, match=in_use), open_run(run):
        pass
    (run / ".zoo-lock").write_text(json.dumps({"pid": 2**22 + 1, "host": "gone"}))  # a kill
    with open_run(run) as folder:
        commit(folder, {"weights": "1"}, 1)
    assert not (run / ".zoo-lock").exists()


def test_staging_is_checked_then_discarded_or_rolled_forward(tmp_path):
    run = tmp_path / "run"
    with open_run(run) as folder:
        commit(folder, {"weights": "1"}, 1)
        with pytest.raises(KeyboardInterrupt), folder.staging() as stage:
            (stage / "weights").write_text("partial")
            raise KeyboardInterrupt  # Ctrl-C while writing: the staging folder goes
        assert not (run / ".zoo-staging").exists()
    # killed after the commit (its journal written), before the moves: finished on open
    with open_run(run) as folder:
        folder._recover = lambda: None  # as if killed right after the journal's rename
        with folder.staging() as stage:
            (stage / "weights").write_text("2")
            folder.commit(stage, {"step": 2})
    with open_run(run) as folder:
        assert folder.state()["step"] == 2 and (run / "weights").read_text() == "2"
    assert not (run / ".zoo-staging").exists()
    (run / ".zoo-staging").mkdir()  # not zoo's: refused, kept
    (run / ".zoo-staging" / "mine").write_text("mine")
    foreign = r"\.zoo-staging: not a staging folder zoo wrote"
    with pytest.raises(FolderError, match=foreign), open_run(run):
        pass
    assert (run / ".zoo-staging" / "mine").read_text() == "mine"


def test_a_folder_of_other_files_is_refused_and_nothing_is_left(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(FolderError, match="exists and is not a test run"), \
            open_run(tmp_path / "mine"):
        pass
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    with pytest.raises(RuntimeError), open_run(tmp_path / "new" / "run"):
        raise RuntimeError("refused before any checkpoint")
    assert not (tmp_path / "new").exists()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FolderError, match="which does not exist"), \
            open_run(tmp_path / "dangling"):
        pass


def test_a_planted_deeply_nested_marker_or_journal_is_refused_not_a_crash(tmp_path):
    from zoo.files import folder as folders

    run = tmp_path / "run"
    with open_run(run) as folder:
        commit(folder, {"weights": "1"}, 1)
    stage = run / ".zoo-staging"
    stage.mkdir()
    (stage / folders.MARKER).write_text("[" * 10_000)  # json.loads: RecursionError
    with pytest.raises(FolderError, match="not a staging folder zoo wrote"), open_run(run):
        pass
    (stage / folders.MARKER).write_text(json.dumps({"format": folders.STAGING_FORMAT}))
    (stage / folders.JOURNAL).write_text("{" * 10_000)
    with pytest.raises(FolderError, match="not a commit journal zoo wrote"), open_run(run):
        pass
