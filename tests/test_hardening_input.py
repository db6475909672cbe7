"""Bad input gives one line naming the file (and line), never a traceback or a wrong answer."""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import soundfile as sf

from narspeech.errors import NarspeechError
from tests.test_data_import import run_cli
from tests.test_data_validate import make_dir


def _lj(root, meta: bytes):
    src = root / "LJSpeech-1.1"
    (src / "wavs").mkdir(parents=True)
    for utt in ("LJ001-0001", "LJ001-0002"):
        sf.write(src / "wavs" / f"{utt}.wav", 0.1 * np.ones(2205, np.float32), 22050, subtype="PCM_16")
    (src / "metadata.csv").write_bytes(meta)
    return src


def test_non_utf8_metadata_is_one_line_naming_file_and_line(tmp_path, monkeypatch, capsys):
    src = _lj(tmp_path, "LJ001-0001|Hello.|Hello.\n".encode() + b"LJ001-0002|Caf\xe9 au lait.|Caf\xe9 au lait.\n")
    code, out, err = run_cli(["data", "import", "ljspeech", src, tmp_path / "out"], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "metadata.csv" in err and "line 2" in err and "UTF-8" in err and "0xe9" in err


def test_utf8_bom_does_not_end_up_in_the_first_id(tmp_path, monkeypatch, capsys):
    src = _lj(tmp_path, b"\xef\xbb\xbfLJ001-0001|Hello.|Hello.\r\nLJ001-0002|World.|World.\r\n")
    code, out, err = run_cli(["data", "import", "ljspeech", src, tmp_path / "out"], monkeypatch, capsys)
    assert code == 0, err
    ids = [l.split()[0] for l in (tmp_path / "out" / "text").read_text(encoding="utf-8").splitlines()]
    assert ids == ["LJ001-0001", "LJ001-0002"]
    # a BOM in a Kaldi table read by read_table
    from narspeech.fileio import read_table

    (tmp_path / "utt2spk").write_bytes(b"\xef\xbb\xbfa1 s\na2 s\n")
    assert list(read_table(tmp_path / "utt2spk")) == ["a1", "a2"]


def test_validate_catches_non_utf8_text(tmp_path, monkeypatch, capsys):
    d = make_dir(tmp_path)
    lines = (d / "text").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"word", b"w\xf6rd")
    (d / "text").write_bytes(b"".join(lines))
    code, out, err = run_cli(["data", "validate", d], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err
    bad = [l for l in err.splitlines() if "UTF-8" in l]
    assert len(bad) == 1 and "text" in bad[0] and "line 3" in bad[0], err
    # and reading it as a table (any later stage) is the same one clear error
    from narspeech.fileio import read_table

    with pytest.raises(NarspeechError, match=r"text: line 3: not UTF-8"):
        read_table(d / "text")


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES])
def test_unwritable_output_dir_is_one_line_naming_the_path(tmp_path, monkeypatch, capsys, err):
    """Root ignores chmod, so the read-only / forbidden folder is simulated at the OS call."""
    import tempfile

    d = make_dir(tmp_path)
    out = tmp_path / "ro"
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and str(dir).startswith(str(out)):
            raise OSError(err, os.strerror(err), str(dir))
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    code, _, errtext = run_cli(["data", "import", "kaldi", d, out], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in errtext and len(errtext.strip().splitlines()) == 1, errtext
    assert str(out) in errtext and ("read-only" in errtext or "permission denied" in errtext)


def test_oserror_outside_the_atomic_writers_is_one_line_too(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    d = make_dir(tmp_path)
    out = tmp_path / "ro" / "data"
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if str(self).startswith(str(tmp_path / "ro")):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    code, _, errtext = run_cli(["data", "import", "kaldi", d, out], monkeypatch, capsys)
    assert code == 1 and "Traceback" not in errtext and "permission denied" in errtext and str(tmp_path / "ro") in errtext


def test_sentence_file_with_bom_and_bad_bytes(tmp_path):
    from narspeech.tts.synthesize.frontend import read_sentences

    f = tmp_path / "s.txt"
    f.write_bytes(b"\xef\xbb\xbfa1 Hello.\r\na2 Bye.\r\n")
    assert read_sentences(f, with_ids=True) == [("a1", "Hello."), ("a2", "Bye.")]
    f.write_bytes(b"Hello.\nCaf\xe9.\n")
    with pytest.raises(NarspeechError, match=r"s.txt: line 2: not UTF-8"):
        read_sentences(f)
