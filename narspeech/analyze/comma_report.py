"""Gather CoMMA measurements (comma.json of several exps) into one comma.json, a Markdown table and the
paper's figures: R(p) per task (Figure 2), with and without knowledge distillation (Figure 3), with and
without the alignment constraint (Figure 4)."""
from __future__ import annotations

import json
from pathlib import Path

from narspeech.errors import NarspeechError
from narspeech.fileio import atomic_path, atomic_write

TASK_ORDER = ("asr", "correct", "tts", "tokens")


def read_results(paths: list[str | Path]) -> list[dict]:
    """comma.json files (or exp dirs holding one), in task order then variant order."""
    out = []
    for p in paths:
        p = Path(p)
        f = p / "comma.json" if p.is_dir() else p
        if not f.is_file():
            raise NarspeechError("no comma.json (run `narspeech analyze comma measure` first)", path=p)
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
            r["points"], r["task"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise NarspeechError("not a CoMMA result (comma.json with task and points)", path=f) from None
        out.append(r)
    if not out:
        raise NarspeechError("no results given")
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    return sorted(out, key=lambda r: (rank.get(r["task"], 99), r.get("variant", "base") != "base", r.get("variant", "")))


def markdown_table(results: list[dict]) -> str:
    """R(p) per task and variant: one row each, one column per p, 95 % interval under each value."""
    ps = sorted({pt["p"] for r in results for pt in r["points"]})
    head = "| task | variant | layers | sentences | " + " | ".join(f"R({p:g})" for p in ps) + " |"
    lines = [head, "|" + "---|" * (4 + len(ps))]
    for r in results:
        by_p = {pt["p"]: pt for pt in r["points"]}
        cells = []
        for p in ps:
            pt = by_p.get(p)
            cells.append("" if pt is None else f"{pt['R']:.3f} [{pt['ci95'][0]:.3f}, {pt['ci95'][1]:.3f}]")
        n = r["points"][0]["sentences"] if r["points"] else 0
        layers = ",".join(str(x) for x in r.get("layers_averaged", [])) + f" of {r.get('n_layers', '?')}"
        lines.append(f"| {r['task']} | {r.get('variant', 'base')} | {layers} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(results: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    colours = {t: f"C{i}" for i, t in enumerate(dict.fromkeys(r["task"] for r in results))}  # one colour per task
    for r in results:
        ps = [pt["p"] for pt in r["points"]]
        rs = [pt["R"] for pt in r["points"]]
        lo = [pt["R"] - pt["ci95"][0] for pt in r["points"]]
        hi = [pt["ci95"][1] - pt["R"] for pt in r["points"]]
        label = r["task"].upper() + ("" if r.get("variant", "base") == "base" else f" ({r['variant']})")
        ax.errorbar(ps, rs, yerr=[lo, hi], marker="o", capsize=3, label=label, color=colours[r["task"]],
                    linestyle="-" if r.get("variant", "base") == "base" else "--")
    ax.set_xlabel("mask probability p")
    ax.set_ylabel("attention density ratio R(p)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write_report(results: list[dict], out_dir: str | Path) -> dict[str, Path]:
    """OUT/comma.json (all results), OUT/comma.md (the table) and the figures that have data; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "comma.json", "table": out / "comma.md"}
    with atomic_write(paths["json"]) as f:
        json.dump({"results": results}, f, indent=1)
    with atomic_write(paths["table"]) as f:
        f.write(markdown_table(results) + "\n")
    base = [r for r in results if r.get("variant", "base") == "base"]
    if base:
        paths["tasks"] = out / "comma_tasks.png"
        _plot(base, "R(p) per task (cf. Ren et al. 2020, Fig. 2)", paths["tasks"])
    for variant, name, title in (("kd", "comma_kd.png", "knowledge distillation (cf. Fig. 3)"),
                                 ("align", "comma_align.png", "alignment constraint (cf. Fig. 4)")):
        tasks = {r["task"] for r in results if r.get("variant") == variant}
        sel = [r for r in results if r["task"] in tasks and r.get("variant", "base") in ("base", variant)]
        if tasks:
            paths[variant] = out / name
            _plot(sel, title, paths[variant])
    return paths
