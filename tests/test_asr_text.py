"""ASR text side: transcript normalisation, char and sentencepiece tokens round trip, the
speechocean762 importer (real data), and `asr score --by spk2age` on hand-counted errors."""
from __future__ import annotations

from typer.testing import CliRunner

from narspeech.asr.text import ASRTokenizer, asr_token_list, normalize_transcript


def test_normalize_transcript():
    assert normalize_transcript("Café, it's 5 o'clock!  Mr. Smith") == "CAFE IT'S FIVE O'CLOCK MISTER SMITH"
    assert normalize_transcript("LOOK AT ANN'S PANTS") == "LOOK AT ANN'S PANTS"


def test_char_tokens_round_trip():
    tok = ASRTokenizer("char")
    toks = tok.encode("WE CALL IT")
    assert toks[:4] == ["W", "E", "<space>", "C"]
    assert tok.decode(toks + ["<sos/eos>"]) == "WE CALL IT"
    assert asr_token_list(["<blank>", "<unk>", "A", "<sos/eos>"]) == ["<blank>", "<unk>", "A", "<mask>", "<sos/eos>"]


def test_subword_round_trip(tmp_path):
    from narspeech.text.subword import train_subword_model

    sents = ["WE CALL IT BEAR", "TOM GIVES UP BOXING", "HE HATES SHOOTING", "MANDY HAS A BIG ARM",
             "LOOK AT ANN'S PANTS", "WHAT ABOUT THE BUS"] * 5
    path = train_subword_model(sents, tmp_path / "sp.model", vocab_size=40, model_type="bpe")
    tok = ASRTokenizer("subword", path)
    pieces = tok.encode("TOM HATES THE BUS")
    assert len(pieces) < len("TOM HATES THE BUS") and tok.decode(pieces) == "TOM HATES THE BUS"


def test_speechocean762_import_and_score_by_age(shared_data, tmp_path):
    from narspeech.cli.main import app
    from narspeech.data.datadir import write_data_dir
    from narspeech.data.speechocean762 import import_speechocean762

    res = import_speechocean762(shared_data / "speechocean762", "dev")
    dd = res.data
    assert len(dd) == 500 and len(set(dd.utt2spk.values())) == 25
    ages = dd.extra_spk["spk2age"]
    assert set(ages) == set(dd.utt2spk.values())
    write_data_dir(tmp_path / "dev", dd)
    # hypotheses: the references, with one substitution in the first adult utterance and one
    # deletion in the first child utterance
    adult = next(u for u in dd.utts if float(ages[dd.utt2spk[u]]) >= 18)
    child = next(u for u in dd.utts if float(ages[dd.utt2spk[u]]) < 18)
    hyp = dict(dd.text)
    hyp[adult] = "XYZ " + " ".join(hyp[adult].split()[1:])
    hyp[child] = " ".join(hyp[child].split()[1:])
    (tmp_path / "hyp").write_text("".join(f"{u} {hyp[u]}\n" for u in sorted(hyp)))
    r = CliRunner().invoke(app, ["asr", "score", str(tmp_path / "dev" / "text"), str(tmp_path / "hyp"),
                                 "--by", str(tmp_path / "dev" / "spk2age")])
    assert r.exit_code == 0, (r.output, r.exception)
    import json

    res = json.loads((tmp_path / "result.json").read_text())
    assert res["wer"]["substitutions"] == 1 and res["wer"]["deletions"] == 1 and res["wer"]["insertions"] == 0
    assert res["groups"]["adult"]["wer"]["substitutions"] == 1 and res["groups"]["child"]["wer"]["deletions"] == 1
