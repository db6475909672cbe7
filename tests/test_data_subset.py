"""`data split` and `data subset` keep every table consistent."""
from __future__ import annotations

import pytest

from narspeech.data.datadir import read_data_dir
from narspeech.data.subset import parse_parts, part_counts
from narspeech.data.validate import validate_data_dir
from narspeech.errors import NarspeechError
from tests.test_data_import import run_cli
from tests.test_data_validate import make_dir


def _six(tmp_path):
    d = make_dir(tmp_path, n=6)
    (d / "spk2utt").write_text("a a-00 a-01 a-02\nb b-03 b-04 b-05\n")
    (d / "token").write_text("".join(f"{u} t{i}\n" for i, u in enumerate(["a-00", "a-01", "a-02", "b-03", "b-04", "b-05"])))
    (d / "spk2gender").write_text("a f\nb m\n")
    return d


def test_part_sizes():
    assert parse_parts("train:0.9,dev:0.05,test:0.05") == [("train", 0.9), ("dev", 0.05), ("test", 0.05)]
    assert part_counts([0.9, 0.05, 0.05], 13100) == [11790, 655, 655]
    assert part_counts([-100, 50, 50], 1132) == [1032, 50, 50]
    assert part_counts([0.8, 0.1, 0.1], 11) == [9, 1, 1]
    with pytest.raises(NarspeechError, match="would get"):
        part_counts([0.8, 0.1, 0.1], 7)  # a part would be empty
    for bad in ("train", "a:0", "a:1.5", "a:-1,b:-2", "a:1,a:2", "a:x"):
        with pytest.raises(NarspeechError):
            parse_parts(bad)
    with pytest.raises(NarspeechError, match="cannot make parts"):
        part_counts([5, 5], 6)


def test_split_ordered_and_shuffled(tmp_path, monkeypatch, capsys):
    d = _six(tmp_path)
    code, _, err = run_cli(["data", "split", d, tmp_path / "p", "--parts", "train:-2,dev:1,test:1", "--ordered"], monkeypatch, capsys)
    assert code == 0, err
    parts = {n: read_data_dir(tmp_path / "p" / n) for n in ("train", "dev", "test")}
    assert parts["train"].utts == ["a-00", "a-01", "a-02", "b-03"]
    assert parts["dev"].utts == ["b-04"] and parts["test"].utts == ["b-05"]
    assert parts["test"].extra_utt["token"] == {"b-05": "t5"} and parts["test"].extra_spk["spk2gender"] == {"b": "m"}
    for n in parts:
        assert validate_data_dir(tmp_path / "p" / n, audio=False).ok
    for out, seed in (("s1", "7"), ("s2", "7"), ("s3", "1")):
        code, _, err = run_cli(["data", "split", d, tmp_path / out, "--parts", "x:0.5,y:0.5", "--seed", seed], monkeypatch, capsys)
        assert code == 0, err
    x1, y1 = read_data_dir(tmp_path / "s1/x"), read_data_dir(tmp_path / "s1/y")
    assert x1.utts == read_data_dir(tmp_path / "s2/x").utts and len(x1) == 3
    assert sorted(x1.utts + y1.utts) == read_data_dir(d).utts
    assert read_data_dir(tmp_path / "s3/x").utts != x1.utts  # the seed is used


def test_split_by_speaker(tmp_path, monkeypatch, capsys):
    d = _six(tmp_path)
    code, _, err = run_cli(["data", "split", d, tmp_path / "p", "--parts", "tr:1,te:1", "--by-speaker", "--seed", "3"], monkeypatch, capsys)
    assert code == 0, err
    tr, te = read_data_dir(tmp_path / "p/tr"), read_data_dir(tmp_path / "p/te")
    assert len(set(tr.utt2spk.values())) == len(set(te.utt2spk.values())) == 1
    assert set(tr.utt2spk.values()) != set(te.utt2spk.values()) and len(tr) == len(te) == 3


def test_subset_modes(tmp_path, monkeypatch, capsys):
    d = _six(tmp_path)
    cases = {
        ("--first", "2"): ["a-00", "a-01"],
        ("--last", "1"): ["b-05"],
    }
    for args, want in cases.items():
        code, _, err = run_cli(["data", "subset", d, tmp_path / "o", *args], monkeypatch, capsys)
        assert code == 0, err
        assert read_data_dir(tmp_path / "o").utts == want
    for out, seed in (("r1", "1"), ("r2", "1"), ("r3", "2")):
        code, _, err = run_cli(["data", "subset", d, tmp_path / out, "--random", "3", "--seed", seed], monkeypatch, capsys)
        assert code == 0, err
    assert read_data_dir(tmp_path / "r1").utts == read_data_dir(tmp_path / "r2").utts and len(read_data_dir(tmp_path / "r1")) == 3
    assert read_data_dir(tmp_path / "r3").utts != read_data_dir(tmp_path / "r1").utts  # the seed is used
    (tmp_path / "list").write_text("b-04 whatever\nnope\na-01\n")
    code, _, err = run_cli(["data", "subset", d, tmp_path / "u", "--utt-list", tmp_path / "list"], monkeypatch, capsys)
    assert code == 0 and "1 listed id(s) not in" in err and "nope" in err
    u = read_data_dir(tmp_path / "u")
    assert u.utts == ["a-01", "b-04"] and (tmp_path / "u/spk2utt").read_text() == "a a-01\nb b-04\n"
    assert u.extra_utt["token"] == {"a-01": "t1", "b-04": "t4"}
    (tmp_path / "spk").write_text("b\n")
    code, _, err = run_cli(["data", "subset", d, tmp_path / "s", "--spk-list", tmp_path / "spk"], monkeypatch, capsys)
    assert code == 0, err
    s = read_data_dir(tmp_path / "s")
    assert s.utts == ["b-03", "b-04", "b-05"] and s.extra_spk["spk2gender"] == {"b": "m"}
    code, _, err = run_cli(["data", "subset", d, tmp_path / "o", "--first", "1", "--last", "1"], monkeypatch, capsys)
    assert code == 1 and "exactly one" in err


def test_download_arguments_without_network(monkeypatch, capsys, tmp_path):
    from narspeech.data import download as dl

    assert [a.name for a in dl.archives_for("librispeech", ["test-clean"])] == ["test-clean.tar.gz"]
    assert dl.archives_for("arctic")[0].url.endswith("cmu_us_slt_arctic.tar.bz2")
    assert dl.archives_for("ljspeech")[0].url.endswith("LJSpeech-1.1.tar.bz2")
    monkeypatch.setattr(dl, "fetch", lambda *a, **k: pytest.fail("network touched"))
    for args, msg in ((["librispeech", tmp_path, "--subset", "train-clean-9000"], "unknown librispeech subset"),
                      (["timit", tmp_path], "unknown corpus"), (["ljspeech", tmp_path, "--subset", "x"], "no subsets")):
        code, _, err = run_cli(["data", "download", *args], monkeypatch, capsys)
        assert code == 1 and msg in err and "Traceback" not in err


def test_rewriting_a_dir_removes_stale_tables(tmp_path, monkeypatch, capsys):
    d = _six(tmp_path)
    out = tmp_path / "o"
    run_cli(["data", "subset", d, out, "--first", "3"], monkeypatch, capsys)
    assert (out / "token").exists()
    (d / "token").unlink()
    code, _, err = run_cli(["data", "subset", d, out, "--last", "2"], monkeypatch, capsys)
    assert code == 0 and "removed stale token" in err and not (out / "token").exists()
    assert validate_data_dir(out, audio=False).ok


def test_extract_streams_and_refuses_escaping_members(tmp_path):
    import io
    import tarfile

    from narspeech.data.download import extract

    with tarfile.open(tmp_path / "ok.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo("LibriSpeech/test-clean/README")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    extract(tmp_path / "ok.tar.gz", tmp_path / "out")
    assert (tmp_path / "out/LibriSpeech/test-clean/README").read_text() == "hi"
    with tarfile.open(tmp_path / "evil.tar", "w") as t:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(NarspeechError, match="unsafe archive member"):
        extract(tmp_path / "evil.tar", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_tables_that_disagree_are_a_clear_error(tmp_path):
    from narspeech.data.datadir import read_data_dir
    from narspeech.errors import NarspeechError

    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text("s1-a /x/a.wav\ns1-b /x/b.wav\n")
    (d / "text").write_text("s1-a hello\ns1-b world\n")
    (d / "utt2spk").write_text("s1-a s1\n")
    (d / "spk2utt").write_text("s1 s1-a\n")
    with pytest.raises(NarspeechError) as e:
        read_data_dir(d)
    assert "utterance s1-b" in str(e.value) and "utt2spk" in str(e.value)


def test_download_skips_an_extracted_archive_even_when_it_was_removed(tmp_path, monkeypatch):
    import narspeech.data.download as dl

    archive = dl.archives_for("ljspeech")[0]
    (tmp_path / f".{archive.name}.extracted").touch()  # extracted before, archive removed since

    def no_network(*a, **k):
        raise AssertionError("fetch called for an archive already extracted")

    monkeypatch.setattr(dl, "fetch", no_network)
    assert dl.download("ljspeech", tmp_path, keep_archive=False) == [tmp_path / archive.name]
