"""Saving never destroys a user's files, and a save interrupted at any step leaves a loadable model.

The scenarios of the data-loss report: a user's folder holding their training table and a
``config.json`` of their own, given as ``-o``; a folder of other files; ``-o .``; a save
whose renames fail half-way (monkeypatched), then recovered by ``load`` or the next save.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import tabsynth as ts
from tabsynth import persistence


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def table(shoppers):
    return shoppers.sample(600, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(table, shoppers):
    return ts.TVAE(epochs=1, random_state=0, verbose=False, device="cpu").fit(
        table, metadata=ts.Metadata.infer(shoppers))


@pytest.fixture()
def user_project(tmp_path, table):
    """``proj/`` as a user keeps it: their training table and a config.json of their own."""
    project = tmp_path / "proj"
    project.mkdir()
    table.to_csv(project / "train.csv", index=False)
    (project / "config.json").write_text('{"learning_rate": 0.1, "owner": "me"}')
    return project


def _contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_cli_refuses_the_inputs_folder_and_keeps_every_file(user_project):
    before = _contents(user_project)
    result = _cli("fit", user_project / "train.csv", "-o", user_project, "--model", "tvae", "--epochs", "1",
                  "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: Output '{user_project}' holds the input '{user_project / 'train.csv'}'; write the output to a "
        "new folder that does not contain your data (for example runs/my-model).")
    assert _contents(user_project) == before


def test_cli_refuses_dot_when_it_holds_the_input(user_project):
    before = _contents(user_project)
    result = _cli("fit", "train.csv", "-o", ".", "--model", "tvae", "--epochs", "1", "--quiet", cwd=user_project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: Output '.' holds the input 'train.csv'; write the output to a new folder that does not contain "
        "your data (for example runs/my-model).")
    assert _contents(user_project) == before


def test_a_folder_of_the_users_with_its_own_config_is_refused_before_training(user_project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("my notes")
    (other / "config.json").write_text('{"theme": "dark"}')
    before = _contents(other)
    result = _cli("fit", user_project / "train.csv", "-o", other, "--model", "tvae", "--epochs", "1", "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: '{other}' is a folder that is not a tabsynth model directory; tabsynth replaces only model "
        "directories it wrote. Choose a new or empty folder for the model (for example runs/my-model).")
    assert _contents(other) == before


@pytest.mark.parametrize("extra", ["notes.txt", None])
def test_save_refuses_folders_tabsynth_did_not_write(fitted, tmp_path, extra):
    target = tmp_path / "target"
    fitted.save(target)
    if extra:  # a user's file beside the model: the folder is no longer only tabsynth's
        (target / extra).write_text("keep me")
    else:  # a config.json without tabsynth's marker
        config = json.loads((target / "config.json").read_text())
        del config["tabsynth_model_directory"], config["tabsynth_version"]
        (target / "config.json").write_text(json.dumps(config))
    before = _contents(target)
    with pytest.raises(FileExistsError) as info:
        fitted.save(target)
    assert str(info.value) == (
        f"'{target}' is a folder that is not a tabsynth model directory; tabsynth replaces only model "
        "directories it wrote. Choose a new or empty folder for the model (for example runs/my-model).")
    assert _contents(target) == before
    with pytest.raises(FileExistsError):  # checked before any training too
        ts.TVAE(epochs=1, verbose=False).fit(pd.DataFrame({"a": range(30)}), checkpoint_dir=target)


def test_a_file_is_refused(fitted, tmp_path):
    path = tmp_path / "model.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(FileExistsError) as info:
        fitted.save(path)
    assert str(info.value).startswith(f"'{path}' is a file; tabsynth replaces only model directories it wrote.")
    assert path.read_text() == "a,b\n1,2\n"


def test_saving_over_a_model_replaces_it_and_an_empty_folder_is_used(fitted, tmp_path):
    path = tmp_path / "model"
    path.mkdir()
    fitted.save(path)  # an empty folder is taken
    fitted.save(path)  # a tabsynth model directory is replaced
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no staging or old sibling left behind
    assert sorted(os.listdir(path)) == sorted(persistence.MODEL_FILES)
    pd.testing.assert_frame_equal(ts.load(path).sample(50, random_state=3), fitted.sample(50, random_state=3))


def test_the_working_directory_is_refused_with_a_clear_message(fitted, tmp_path, monkeypatch):
    """``-o .`` used to fail with "PosixPath('.') has an empty name"; swapping the working
    directory would pull it from under the caller, so it is refused up front."""
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    message = (f"'{folder}' is the working directory or holds it; a save replaces the model directory as a whole, "
               "which would pull the working directory from under you. Save to a subfolder (for example -o model).")
    with pytest.raises(FileExistsError) as info:
        fitted.save(".")
    assert str(info.value) == message
    assert os.listdir(folder) == []
    fitted.save("model")  # a subfolder is fine, and later saves to it too
    fitted.save("model")
    assert sorted(os.listdir(folder)) == ["model"] and len(ts.load("model").sample(5)) == 5


def test_replacing_a_model_keeps_its_permissions(fitted, tmp_path):
    path = tmp_path / "private"
    fitted.save(path)
    os.chmod(path, 0o700)
    for name in persistence.MODEL_FILES:
        os.chmod(path / name, 0o600)
    fitted.save(path)
    assert path.stat().st_mode & 0o777 == 0o700
    assert {(path / name).stat().st_mode & 0o777 for name in persistence.MODEL_FILES} == {0o600}


def test_a_symlink_destination_replaces_the_directory_it_points_to(fitted, tmp_path):
    target = tmp_path / "models" / "v1"
    fitted.save(target)
    link = tmp_path / "current"
    link.symlink_to(target, target_is_directory=True)
    fitted.save(link)
    fitted.save(link)
    assert link.is_symlink() and sorted(os.listdir(tmp_path)) == ["current", "models"]
    assert sorted(os.listdir(tmp_path / "models")) == ["v1"]
    assert len(ts.load(link).sample(5)) == 5


def test_fitted_models_and_metadata_pickle(fitted, table):
    import pickle

    meta = ts.Metadata.infer(table)  # holds a weak reference to its table, which is not pickled
    assert pickle.loads(pickle.dumps(meta)) == meta
    model = ts.TVAE(epochs=1, random_state=0, verbose=False, device="cpu").fit(table)
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(again.sample(20, random_state=1), model.sample(20, random_state=1))


def _interrupting(monkeypatch, failing_call: int):
    """Make the ``failing_call``-th rename of a save raise, as a crash at that moment would."""
    real_rename, calls = persistence._rename, []

    def rename(source, target):
        calls.append((source, target))
        if len(calls) == failing_call:
            raise OSError("simulated crash")
        real_rename(source, target)

    monkeypatch.setattr(persistence, "_rename", rename)
    return calls


@pytest.mark.parametrize("failing_call", [1, 2])
def test_a_save_interrupted_between_its_renames_leaves_a_loadable_model(fitted, tmp_path, monkeypatch,
                                                                        failing_call):
    """Call 1 moves the old model aside, call 2 moves the new one in: a crash at either leaves
    the old or the new model loadable, and nothing is deleted that tabsynth did not write."""
    path = tmp_path / "model"
    old = ts.TVAE(epochs=1, random_state=1, verbose=False, device="cpu").fit(fitted.sample(300, random_state=0))
    old.save(path)
    (tmp_path / "keep.txt").write_text("a user's file beside the model")
    calls = _interrupting(monkeypatch, failing_call)
    with pytest.raises(OSError, match="simulated crash"):
        fitted.save(path)
    assert len(calls) == failing_call
    monkeypatch.setattr(persistence, "_rename", os.replace)
    if failing_call == 2:  # between the renames: no model at the path until load recovers it
        assert not path.exists()
    with pytest.warns(RuntimeWarning, match="Recovered the model") if failing_call == 2 else _no_warning():
        loaded = ts.load(path)
    expected = fitted if failing_call == 2 else old  # the complete new model is preferred
    pd.testing.assert_frame_equal(loaded.sample(40, random_state=2), expected.sample(40, random_state=2))
    assert (tmp_path / "keep.txt").read_text() == "a user's file beside the model"
    fitted.save(path)  # the next save clears what the crash left
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "model"]


def test_a_deleted_model_is_not_brought_back(fitted, tmp_path, monkeypatch):
    """A crash after the swap, before the old copy is removed, leaves a hidden old copy; loading
    the model removes it, and a model the user then deletes stays deleted."""
    path = tmp_path / "model"
    fitted.save(path)
    monkeypatch.setattr(persistence, "_clear", lambda folder: persistence._check_clearable(folder))
    fitted.save(path)  # "crashes" before removing the old copy
    monkeypatch.undo()
    assert (tmp_path / ".model.tabsynth-old").is_dir()
    ts.load(path)
    assert sorted(os.listdir(tmp_path)) == ["model"]  # the finished swap's leftover is cleared
    monkeypatch.setattr(persistence, "_clear", lambda folder: persistence._check_clearable(folder))
    fitted.save(path)
    monkeypatch.undo()
    for name in persistence.MODEL_FILES:
        (path / name).unlink()
    path.rmdir()  # the user deletes the model
    with pytest.raises(FileNotFoundError):
        ts.load(path)
    assert not path.exists()


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_crash_while_writing_files_keeps_the_old_model(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model"
    fitted.save(path)
    before = _contents(path)

    def broken_bytes(tensors):
        raise MemoryError("simulated crash while serialising")

    monkeypatch.setattr(persistence, "_tensor_bytes", broken_bytes)
    with pytest.raises(MemoryError):
        fitted.save(path)
    assert _contents(path) == before
    monkeypatch.undo()
    fitted.save(path)  # the half-written staging folder is tabsynth's own: cleared
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_a_staging_folder_with_foreign_files_is_never_deleted(fitted, tmp_path, table):
    path = tmp_path / "model"
    staging = tmp_path / ".model.tabsynth-new"
    staging.mkdir()
    (staging / "thesis.docx").write_text("not tabsynth's")
    message = (f"'{staging}' is in the way of a model save and holds files tabsynth did not write; move or delete "
               "it yourself.")
    with pytest.raises(FileExistsError) as info:
        fitted.save(path)
    assert str(info.value) == message
    with pytest.raises(FileExistsError) as info:  # and before a fit, not after it
        ts.TVAE(epochs=1, verbose=False).fit(table, checkpoint_dir=path)
    assert str(info.value) == message
    assert (staging / "thesis.docx").read_text() == "not tabsynth's"


def test_metadata_is_written_atomically(tmp_path, table, monkeypatch):
    """Metadata.save (and so `tabsynth metadata`) go through the atomic-write helper: a failed
    write leaves the previous file as it was."""
    import tabsynth.io as io_module

    path = tmp_path / "meta.json"
    path.write_text("previous")

    def failing_write_text(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(io_module.Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="disk full"):
        ts.Metadata.infer(table).save(path)
    monkeypatch.undo()
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["meta.json"]  # no temporary file left
    ts.Metadata.infer(table).save(path)
    assert ts.Metadata.load(path) == ts.Metadata.infer(table)


def test_cli_sample_refuses_an_output_inside_the_model_directory(fitted, tmp_path):
    model_dir = tmp_path / "model"
    fitted.save(model_dir)
    result = _cli("sample", model_dir, "-n", "5", "-o", model_dir / "synthetic.csv")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: Output '{model_dir / 'synthetic.csv'}' lies inside the input "
                                     f"'{model_dir}'; write it elsewhere.")
    assert sorted(os.listdir(model_dir)) == sorted(persistence.MODEL_FILES)
