import polars as pl
import torch

from abawflow.training.checkpoints import TrainingFiles


def test_a_training_job_writes_its_weights_and_history_then_drops_its_state(tmp_path):
    data = tmp_path / "features.npy"
    data.write_bytes(b"0123")
    files = TrainingFiles(tmp_path / "run" / "model.pt", "training_state.pt", [{"epochs": 2}, "code"], [data])
    assert files.state_path == tmp_path / "run" / "training_state.pt"
    files.state_path.parent.mkdir()
    files.state_path.write_bytes(b"state of epoch 1")
    files.finish({"state_dict": {"w": torch.ones(2)}}, [{"epoch": 1, "loss": 0.5}], tmp_path / "run" / "history.csv")
    assert torch.equal(torch.load(tmp_path / "run" / "model.pt")["state_dict"]["w"], torch.ones(2))
    assert pl.read_csv(tmp_path / "run" / "history.csv").to_dicts() == [{"epoch": 1, "loss": 0.5}]
    assert not files.state_path.exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["history.csv", "model.pt"]


def test_a_saved_state_belongs_to_its_settings_and_inputs(tmp_path):
    data = tmp_path / "features.npy"
    data.write_bytes(b"0123")
    key = TrainingFiles(tmp_path / "model.pt", "state.pt", [{"epochs": 2}], [data]).resume_key
    assert key == TrainingFiles(tmp_path / "model.pt", "state.pt", [{"epochs": 2}], [data]).resume_key
    assert key != TrainingFiles(tmp_path / "model.pt", "state.pt", [{"epochs": 3}], [data]).resume_key
    data.write_bytes(b"01234")
    assert key != TrainingFiles(tmp_path / "model.pt", "state.pt", [{"epochs": 2}], [data]).resume_key
