"""Download and unpack the public corpora the recipes use (for machines with internet).

Archives are fetched with urllib into ``DEST`` (resumed if a partial ``.part`` file
is there), checked against the published SHA-256 where we know it, and extracted
in place (tar members are checked to stay inside ``DEST``). Never called by tests.
"""
from __future__ import annotations

import hashlib
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.progress import progress


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


LJSPEECH = Archive("https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2")

_LS = "https://www.openslr.org/resources/12/"
LIBRISPEECH = {
    "dev-clean": Archive(_LS + "dev-clean.tar.gz", "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
    "dev-other": Archive(_LS + "dev-other.tar.gz", "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
    "test-clean": Archive(_LS + "test-clean.tar.gz", "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
    "test-other": Archive(_LS + "test-other.tar.gz", "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
    "train-clean-100": Archive(_LS + "train-clean-100.tar.gz", "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
    "train-clean-360": Archive(_LS + "train-clean-360.tar.gz", "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
    "train-other-500": Archive(_LS + "train-other-500.tar.gz", "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
}

_ARCTIC = "http://festvox.org/cmu_arctic/packed/cmu_us_{}_arctic.tar.bz2"
_ARCTIC_SHA256 = {
    "aew": "645cb33c0f0b2ce41384fdd8d3db2c3f5fc15c1e688baeb74d2e08cab18ab406",
    "ahw": "024664adeb892809d646a3efd043625b46b5bfa3e6189b3500b2d0d59dfab06c",
    "aup": "2c55bc3050caa996758869126ad10cf42e1441212111db034b3a45189c18b6fc",
    "awb": "d74a950c9739a65f7bfc4dfa6187f2730fa03de5b8eb3f2da97a51b74df64d3c",
    "axb": "dd65c3d2907d1ee52f86e44f578319159e60f4bf722a9142be01161d84e330ff",
    "bdl": "26b91aaf48b2799b2956792b4632c2f926cd0542f402b5452d5adecb60942904",
    "clb": "3f16dc3f3b97955ea22623efb33b444341013fc660677b2e170efdcc959fa7c6",
    "eey": "8a0ee4e5acbd4b2f61a4fb947c1730ab3adcc9dc50b195981d99391d29928e8a",
    "fem": "3fcff629412b57233589cdb058f730594a62c4f3a75c20de14afe06621ef45e2",
    "gka": "dc82e7967cbd5eddbed33074b0699128dbd4482b41711916d58103707e38c67f",
    "jmk": "3a37c0e1dfc91e734fdbc88b562d9e2ebca621772402cdc693bbc9b09b211d73",
    "ksp": "8029cafce8296f9bed3022c44ef1e7953332b6bf6943c14b929f468122532717",
    "ljm": "b23993765cbf2b9e7bbc3c85b6c56eaf292ac81ee4bb887b638a24d104f921a0",
    "lnh": "4faf34d71aa7112813252fb20c5433e2fdd9a9de55a00701ffcbf05f24a5991a",
    "rms": "c6dc11235629c58441c071a7ba8a2d067903dfefbaabc4056d87da35b72ecda4",
    "rxr": "1fa4271c393e5998d200e56c102ff46fcfea169aaa2148ad9e9469616fbfdd9b",
    "slp": "54345ed55e45c23d419e9a823eef427f1cc93c83a710735ec667d068c916abf1",
    "slt": "7c173297916acf3cc7fcab2713be4c60b27312316765a90934651d367226b4ea",
}
ARCTIC = {spk: Archive(_ARCTIC.format(spk), sha) for spk, sha in _ARCTIC_SHA256.items()}

CORPORA = ("ljspeech", "librispeech", "arctic")
DEFAULT_SUBSETS = {"librispeech": ["dev-clean", "test-clean", "train-clean-100"], "arctic": ["slt"]}


def archives_for(corpus: str, subsets: list[str] | None = None) -> list[Archive]:
    """The archives making up `corpus` (LibriSpeech subsets, ARCTIC speakers); validates names."""
    if corpus == "ljspeech":
        if subsets:
            raise NarspeechError("LJSpeech has no subsets: drop --subset")
        return [LJSPEECH]
    table = {"librispeech": LIBRISPEECH, "arctic": ARCTIC}.get(corpus)
    if table is None:
        raise NarspeechError(f"unknown corpus {corpus!r}; choose from {', '.join(CORPORA)}")
    names = subsets or DEFAULT_SUBSETS[corpus]
    bad = [n for n in names if n not in table]
    if bad:
        raise NarspeechError(f"unknown {corpus} subset(s) {', '.join(bad)}; choose from {', '.join(table)}")
    return [table[n] for n in names]


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fetch(archive: Archive, dest: Path, *, timeout: float = 60.0) -> Path:
    """Download `archive` into `dest` (resuming a ``.part`` file), verify it, return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / archive.name
    if out.is_file():
        return out
    part = out.with_name(out.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(archive.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if have and resp.status != 206:  # server ignored the range: start again
                have = 0
            total = resp.length + have if resp.length is not None else None
            with open(part, "ab" if have else "wb") as f, progress(total=total, initial=have, desc=archive.name,
                                                                 unit="B", unit_scale=True) as bar:
                while block := resp.read(1 << 20):
                    f.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        if not (e.code == 416 and have):  # 416 on a resumed download: the .part file is already complete
            raise NarspeechError(f"download failed ({e}); rerun to resume", path=archive.url) from None
    except OSError as e:
        raise NarspeechError(f"download failed ({e}); rerun to resume", path=archive.url) from None
    if archive.sha256 is not None:
        got = sha256_of(part)
        if got != archive.sha256:
            part.unlink()
            raise NarspeechError(f"checksum mismatch (sha256 {got}, expected {archive.sha256}); deleted, rerun", path=out)
    part.rename(out)
    return out


def extract(archive_path: Path, dest: Path) -> None:
    """Unpack a tar archive into `dest` in one streaming pass, refusing links and members
    that would land outside it."""
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive_path, "r|*") as tar:
            for m in progress(tar, desc=f"extract {archive_path.name}", unit="file"):
                if m.issym() or m.islnk() or not (root / m.name).resolve().is_relative_to(root):
                    raise NarspeechError(f"unsafe archive member {m.name!r}", path=archive_path)
                tar.extract(m, root, **kw)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise NarspeechError(f"cannot extract ({e}); delete it and rerun to download again", path=archive_path) from None


def download(corpus: str, dest: str | Path, subsets: list[str] | None = None, *, keep_archive: bool = True) -> list[Path]:
    """Fetch, verify and extract `corpus` into `dest`; returns the archive paths."""
    dest = Path(dest)
    done = []
    for archive in archives_for(corpus, subsets):
        stamp = dest / f".{archive.name}.extracted"
        if stamp.exists():  # already extracted: no fetch, even when the archive was removed
            done.append(dest / archive.name)
            continue
        path = fetch(archive, dest)
        extract(path, dest)
        stamp.touch()
        if not keep_archive:
            path.unlink()
        done.append(path)
    return done
