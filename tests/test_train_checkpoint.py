"""Checkpoint averaging, loading by exp dir, the `narspeech train info/average` commands."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from narspeech.cli.main import app
from narspeech.config import save_config
from narspeech.errors import NarspeechError
from narspeech.train.checkpoint import average_checkpoints, load_checkpoint, save_checkpoint, write_index


def _model_sd(seed: int) -> dict:
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    m.train()
    for _ in range(seed + 1):  # a different num_batches_tracked per seed
        m(torch.randn(5, 3))
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_average_of_identical_checkpoints_is_that_checkpoint(tmp_path):
    sd = _model_sd(0)
    paths = [save_checkpoint({"model": sd}, tmp_path / f"c{i}.pt") for i in range(3)]
    avg = average_checkpoints(paths)
    assert avg.keys() == sd.keys()
    for k in sd:
        assert avg[k].dtype == sd[k].dtype
        assert torch.equal(avg[k], sd[k]), k


def test_average_of_two_is_their_mean_and_integer_buffers_floor(tmp_path):
    a, b = _model_sd(1), _model_sd(2)
    avg = average_checkpoints([save_checkpoint({"model": a}, tmp_path / "a.pt"), save_checkpoint({"model": b}, tmp_path / "b.pt")])
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(avg[k], (a[k] + b[k]) / 2)
    assert not torch.allclose(avg["0.weight"], a["0.weight"])
    nbt = "1.num_batches_tracked"
    assert avg[nbt].dtype == torch.int64 and int(avg[nbt]) == (int(a[nbt]) + int(b[nbt])) // 2 == 2


def test_average_refuses_mismatched_models(tmp_path):
    a = save_checkpoint({"model": {"w": torch.zeros(2)}}, tmp_path / "a.pt")
    b = save_checkpoint({"model": {"w": torch.zeros(3)}}, tmp_path / "b.pt")
    c = save_checkpoint({"model": {"v": torch.zeros(2)}}, tmp_path / "c.pt")
    with pytest.raises(NarspeechError, match="shape"):
        average_checkpoints([a, b])
    with pytest.raises(NarspeechError, match="differ"):
        average_checkpoints([a, c])


def test_load_checkpoint_resolves_exp_dir_and_names_bad_files(tmp_path):
    save_checkpoint({"model": {"w": torch.ones(1)}, "step": 7}, tmp_path / "last.pt")
    assert load_checkpoint(tmp_path)["step"] == 7
    save_checkpoint({"model": {"w": torch.ones(1)}, "step": 5}, tmp_path / "best.pt")
    assert load_checkpoint(tmp_path)["step"] == 5
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NarspeechError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(NarspeechError, match="no best.pt or last.pt"):
        load_checkpoint(tmp_path / "empty_dir")


def _fake_exp(tmp_path):
    exp = tmp_path / "exp"
    save_config({"train": {"best_metric": "acc", "best_mode": "max"}}, exp / "config.yaml")
    entries = []
    for step, acc, w in [(10, 0.5, 1.0), (20, 0.9, 2.0), (30, 0.8, 4.0)]:
        name = f"step{step:08d}.pt"
        save_checkpoint({"model": {"w": torch.full((2,), w)}, "step": step}, exp / "checkpoints" / name)
        entries.append({"file": name, "step": step, "epoch": step // 10, "metrics": {"acc": acc, "loss": 1 - acc}})
    write_index(exp, entries)
    return exp


def test_cli_average_picks_best_by_metric_and_mode(tmp_path):
    exp = _fake_exp(tmp_path)
    r = CliRunner().invoke(app, ["train", "average", str(exp), "--num", "2"])
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(exp / "avg2.pt")
    assert torch.allclose(ck["model"]["w"], torch.full((2,), 3.0))  # acc max: steps 20 and 30
    assert ck["averaged_from"] == ["step00000020.pt", "step00000030.pt"] and ck["step"] == 30
    r = CliRunner().invoke(app, ["train", "average", str(exp), "-n", "2", "--last", "--out", str(tmp_path / "l.pt")])
    assert r.exit_code == 0, r.output
    assert torch.allclose(load_checkpoint(tmp_path / "l.pt")["model"]["w"], torch.full((2,), 3.0))
    r = CliRunner().invoke(app, ["train", "average", str(exp), "-n", "2", "--metric", "loss", "--out", str(tmp_path / "m.pt")])
    assert torch.allclose(load_checkpoint(tmp_path / "m.pt")["model"]["w"], torch.full((2,), 3.0))  # loss min
    r = CliRunner().invoke(app, ["train", "average", str(exp), "-n", "1", "--metric", "acc", "--mode", "min", "--out", str(tmp_path / "w.pt")])
    assert torch.allclose(load_checkpoint(tmp_path / "w.pt")["model"]["w"], torch.full((2,), 1.0))


def test_cli_info_lists_checkpoints_and_marks_best(tmp_path):
    exp = _fake_exp(tmp_path)
    r = CliRunner().invoke(app, ["train", "info", str(exp)])
    assert r.exit_code == 0, r.output
    lines = [l for l in r.output.splitlines() if "step000000" in l]
    assert len(lines) == 3 and lines[1].endswith("*") and "acc=0.9" in lines[1]
    assert json.loads((exp / "checkpoints" / "index.json").read_text())[0]["step"] == 10


def test_resume_from_a_truncated_last_pt_is_one_clear_error(tmp_path):
    from narspeech.errors import NarspeechError
    from narspeech.train.engine import fit
    from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate as collate

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "last.pt").write_bytes(b"PK\x03\x04 not a whole checkpoint")
    cfg = {"train": {"max_steps": 2, "batch_bins": 64, "device": "cpu"}}
    with pytest.raises(NarspeechError, match="cannot read checkpoint"):
        fit(cfg, ToySeqModel(), ToySeqDataset(8, seed=0), None, collate, exp, resume=True)


def test_a_failure_inside_the_last_pt_writer_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """torch.save dies half-way through last.pt (disk full, kill): the previous last.pt still loads
    and no temp file is left behind."""
    from narspeech.errors import NarspeechError
    from narspeech.train.engine import fit
    from narspeech.train.toy import ToySeqDataset, ToySeqModel, toy_collate as collate

    exp = tmp_path / "exp"
    cfg = {"train": {"max_steps": 2, "batch_bins": 64, "device": "cpu", "save_interval": 1, "num_workers": 0,
                     "tensorboard": False, "log_to_stderr": False}}
    fit(cfg, ToySeqModel(), ToySeqDataset(8, seed=0), None, collate, exp)
    assert load_checkpoint(exp / "last.pt")["step"] == 2
    real_save = torch.save

    def dying_save(obj, f, *a, **k):
        import io

        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        with open(f, "wb") as out:
            out.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dying_save)
    cfg["train"]["max_steps"] = 4
    with pytest.raises((OSError, NarspeechError)):
        fit(cfg, ToySeqModel(), ToySeqDataset(8, seed=0), None, collate, exp, resume=True)
    monkeypatch.setattr(torch, "save", real_save)
    ck = load_checkpoint(exp / "last.pt")
    assert ck["step"] == 2 and "optimizer" in ck
    assert sorted(p.name for p in exp.iterdir() if p.name.startswith(".")) == []


def test_cli_average_more_than_kept_fails_unless_fewer_ok(tmp_path):
    """A short run keeps fewer checkpoints than a recipe's --num: an error naming the count, or with
    --fewer-ok the mean of all that are kept."""
    exp = _fake_exp(tmp_path)
    r = CliRunner().invoke(app, ["train", "average", str(exp), "--num", "5"])
    assert r.exit_code != 0 and "only 3 are kept" in str(r.exception)
    r = CliRunner().invoke(app, ["train", "average", str(exp), "--num", "5", "--fewer-ok"])
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(exp / "avg5.pt")
    assert torch.allclose(ck["model"]["w"], torch.full((2,), 7 / 3)) and len(ck["averaged_from"]) == 3


def test_exp_dir_of_a_checkpoint(tmp_path):
    """--init may name an exp dir, its best.pt / avg5.pt, or a file under checkpoints/: all lead to the exp dir
    (where tokens.txt is)."""
    from narspeech.train.checkpoint import exp_dir_of

    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    for f in (exp / "avg5.pt", exp / "checkpoints" / "step00000500.pt"):
        f.write_bytes(b"")
        assert exp_dir_of(f) == exp
    assert exp_dir_of(exp) == exp
