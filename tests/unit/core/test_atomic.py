"""Atomic outputs: complete or absent, never a partial file, readable by the group like any other file."""

import os
import stat

import pytest

from abawflow.core.atomic import atomic_path, write_folder, write_text


@pytest.fixture
def group_umask():
    previous = os.umask(0o002)  # a group sharing a results folder
    yield
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_get_the_mode_of_an_ordinary_file_not_the_temporary_0600(tmp_path, group_umask):
    write_text(tmp_path / "scores.csv", "a,b\n")
    assert mode(tmp_path / "scores.csv") == 0o664
    write_folder(tmp_path / "abaw3", {"video1.txt": "x\n"})
    assert mode(tmp_path / "abaw3") == 0o775 and mode(tmp_path / "abaw3" / "video1.txt") == 0o664


def test_a_failed_write_leaves_neither_output_nor_partial_file(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "model.pt") as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_torch_file_is_the_same_bytes_for_the_same_value(tmp_path):
    import torch

    from abawflow.core.atomic import write_torch

    value = {"weights": torch.arange(6.0).reshape(2, 3), "epoch": 3}
    write_torch(value, tmp_path / "a.pt")
    write_torch(value, tmp_path / "b.pt")  # another name, and another temporary name before it
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["weights"], value["weights"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]
