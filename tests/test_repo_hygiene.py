"""Results live where results live: every recipe dir has a RESULTS.md in the one dated format, and no
config carries more comment lines than settings (one-line reasons; history goes to RESULTS.md rows)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATED = re.compile(r"^## (\d{4}-\d{2}-\d{2})")
NO_MEASUREMENT = ("No measurement on record", "Stub:")


def recipe_dirs(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in root.glob("egs/*/*") if p.is_dir() and (p / "run.sh").is_file())


def results_problems(path: Path) -> list[str]:
    """What a RESULTS.md lacks: dated sections with environment, git and commands, or a plain no-measurement stub."""
    if not path.is_file():
        return [f"{path.parent.relative_to(ROOT)}: no RESULTS.md"]
    lines = path.read_text(encoding="utf-8").splitlines()
    sections = [i for i, line in enumerate(lines) if DATED.match(line)]
    if not sections:
        text = "\n".join(lines)
        if any(s in text for s in NO_MEASUREMENT) and "./run.sh" in text:
            return []
        return [f"{path.relative_to(ROOT)}: no dated section (## YYYY-MM-DD …) and no no-measurement stub with its command"]
    out = []
    for a, b in zip(sections, sections[1:] + [len(lines)]):
        head = lines[a + 1:min(b, a + 8)]
        for field in ("- environment:", "- git:", "- commands:"):
            if not any(h.startswith(field) for h in head):
                out.append(f"{path.relative_to(ROOT)}:{a + 1}: section lacks '{field}'")
    return out


def comment_and_setting_lines(text: str) -> tuple[int, int]:
    """(lines carrying a comment, whole or trailing; lines carrying a setting) of a YAML file."""
    comments = settings = 0
    for line in text.splitlines():
        body = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if body.strip():
            settings += 1
        if line.lstrip().startswith("#") or " #" in line:
            comments += 1
    return comments, settings


def config_problems(root: Path = ROOT) -> list[str]:
    out = []
    for p in sorted(root.glob("egs/*/*/conf/**/*.yaml")):
        c, s = comment_and_setting_lines(p.read_text(encoding="utf-8"))
        if c > s:
            out.append(f"{p.relative_to(root)}: {c} comment lines > {s} setting lines")
    return out


PRELUDE = re.compile(r"^\s*(log|banner|run_stage|ns|ns_train|feats_stage)\s*\(\)", re.M)


def prelude_definitions(root: Path = ROOT) -> dict[str, list[str]]:
    """Where each recipe prelude function is defined, over every shell script of the repository."""
    out: dict[str, list[str]] = {}
    for p in sorted(root.glob("**/*.sh")):
        if ".git" in p.parts:
            continue
        for m in PRELUDE.finditer(p.read_text(encoding="utf-8", errors="replace")):
            out.setdefault(m.group(1), []).append(str(p.relative_to(root)))
    return out


def test_the_recipe_prelude_is_defined_once_in_recipes_lib():
    defs = prelude_definitions()
    assert set(defs) == {"log", "banner", "run_stage", "ns", "ns_train", "feats_stage"}
    assert all(where == ["recipes/lib.sh"] for where in defs.values()), defs


def test_every_recipe_has_results_in_the_dated_format():
    dirs = recipe_dirs()
    assert len(dirs) >= 9
    problems = [p for d in dirs for p in results_problems(d / "RESULTS.md")]
    assert not problems, "\n".join(problems)


def test_no_config_has_more_comment_lines_than_settings():
    problems = config_problems()
    assert not problems, "\n".join(problems)


def test_the_checks_see_a_comment_heavy_config_and_a_missing_results(tmp_path):
    conf = tmp_path / "egs/x/tts1/conf"
    conf.mkdir(parents=True)
    (tmp_path / "egs/x/tts1/run.sh").write_text("#!/bin/sh\n")
    (conf / "a.yaml").write_text("model:\n  d: 1   # why\n  # history\n  # more history\n")
    assert config_problems(tmp_path) == ["egs/x/tts1/conf/a.yaml: 3 comment lines > 2 setting lines"]
    assert comment_and_setting_lines("a: 1  # reason\nb: 2\n") == (1, 2)
    assert recipe_dirs(tmp_path) == [tmp_path / "egs/x/tts1"]
    (tmp_path / "egs/x/tts1/run.sh").write_text('log() { echo "$*"; }\n')
    assert prelude_definitions(tmp_path) == {"log": ["egs/x/tts1/run.sh"]}
