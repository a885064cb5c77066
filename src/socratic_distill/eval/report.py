"""`report`: one Markdown report and one static HTML page over one or more run directories.

It reads every `metrics.json` that an evaluation wrote inside the runs (an `EvalResult` plus
`run`, `method`, `split`, `dataset`, `student`, `train_seconds`, `solve_seconds`) and draws:
accuracy per method with 95% intervals, every two methods of a split compared problem by
problem (McNemar's exact test), accuracy by number of reasoning steps, where wrong
answers first went wrong (`eval.diagnosis`), tokens generated per problem, training and
inference time, accuracy against student size when several sizes ran, and how many training
problems share a run of words with each evaluation split, when that was checked. The HTML page
embeds its plots, so it works offline as a single file.
"""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.eval.diagnosis import DESCRIPTIONS, FIRST_ERRORS
from socratic_distill.eval.evaluate import read_evaluation
from socratic_distill.eval.metrics import accuracy_with_ci, mcnemar_exact
from socratic_distill.jsonl import atomic_writer
from socratic_distill.methods import RUN_METHODS

# Figures reported by Shridhar et al. (2023) for GSM8K, shown beside a run's own.
PAPER_GSM8K = [
    ("GPT-2 large (774M)", "fine-tuned on human step-by-step solutions", 14.1),
    ("GPT-2 large (774M)", "Socratic CoT (decomposer + solver)", 21.1),
    ("GPT-3 6B", "fine-tuned (Cobbe et al., 2021)", 21.7),
]

OVERLAP_NOTE = ("A training problem shares a run of words with a split when some run of that many "
                "consecutive words (lower-cased, without punctuation) occurs in one of the split's "
                "problems; template-made problems share phrasing by construction.")


SAMPLED_NOTE = ("majority: the most common answer of the same N samples; pass@N: problems with "
                "a right answer among them, the most any choice could reach; gap closed: "
                "(chosen - majority) / (pass@N - majority); within-problem AUC: of the pairs of "
                "a right and a wrong sample of one problem, the share the verifier scores right "
                "first (0.5 is chance); scoring / sampling time: the verifier's cost beside the "
                "students'.")


def collect(sources: list[Path]) -> list[dict[str, Any]]:
    """Every evaluation of the runs (directories, searched for `metrics.json`) and evaluation
    files (`evaluate --out F`), in a stable order; a run defaults to its directory's name."""
    rows = []
    for source in sources:
        if source.is_file():
            found, run = [source], source.parent.name
        elif source.is_dir():
            found, run = sorted(source.glob("**/metrics.json")), source.name
        else:
            raise UserError(f"{source}: no such run directory or evaluation file")
        for path in found:
            record = read_evaluation(path).model_dump()
            record["run"] = record["run"] or run
            rows.append(record)
    if not rows:
        raise UserError(f"no evaluation results (metrics.json) under {', '.join(map(str, sources))}")
    rank = {method: i for i, method in enumerate(RUN_METHODS)}
    return sorted(rows, key=lambda r: (r["run"], r["split"], rank.get(r["method"], 99), r["method"]))


def by_steps(row: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """(correct, total) per number of gold reasoning steps; missing predictions count as wrong."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for item in row.get("items", []):
        if item.get("num_steps") is not None:
            counts[item["num_steps"]][0] += int(item["correct"])
            counts[item["num_steps"]][1] += 1
    return {steps: (c, t) for steps, (c, t) in sorted(counts.items())}


def tokens_per_problem(row: dict[str, Any]) -> float | None:
    tokens = [item["tokens"] for item in row.get("items", []) if item.get("tokens") is not None]
    return sum(tokens) / len(tokens) if tokens else None


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 60:.1f} min" if value >= 120 else f"{value:.0f} s"


def results_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    header = ["run", "split", "method", "student", "accuracy % (95% CI)", "n", "tokens/problem",
              "train", "inference"]
    table = [header]
    for row in rows:
        tokens = tokens_per_problem(row)
        table.append([
            row["run"], row["split"], row["method"], str(row.get("student", {}).get("model", "–")),
            f"{_pct(row['accuracy'])} ({_pct(row['ci_low'])}–{_pct(row['ci_high'])})",
            str(row["total"]), f"{tokens:.0f}" if tokens is not None else "–",
            _seconds(row.get("train_seconds")), _seconds(row.get("solve_seconds")),
        ])
    return table


def sampled_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    """For every row that chose among N samples: its accuracy against majority vote and pass@N
    over the very same samples, and the share of the gap between the two that it closed."""
    table = [["run", "split", "method", "N", "chosen %", "majority %", "pass@N %", "gap closed",
              "within-problem AUC", "scoring / sampling time"]]
    for row in rows:
        sampled = row.get("sampled")
        if not sampled:
            continue
        gap = sampled["any_correct"] - sampled["majority"]
        closed = f"{100 * (row['accuracy'] - sampled['majority']) / gap:.0f}%" if gap > 0 else "–"
        table.append([row["run"], row["split"], row["method"], str(sampled["samples"]),
                      _pct(row["accuracy"]), _pct(sampled["majority"]),
                      _pct(sampled["any_correct"]), closed,
                      "–" if sampled.get("ranking") is None else f"{sampled['ranking']:.2f}",
                      "–" if sampled.get("scoring_cost") is None else f"{_pct(sampled['scoring_cost'])}%"])
    return table if len(table) > 1 else []


PAIRED_NOTE = ("Each pair of evaluations of one split, on the problems both answered: how many "
               "each alone solved, and McNemar's exact p, the chance of a split at least this "
               "uneven if neither were better.")


def _label(row: dict[str, Any], runs: int) -> str:
    return row["method"] if runs == 1 else f"{row['run']} {row['method']}"


def paired_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Every two evaluations of the same dataset split, compared problem by problem."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row.get("dataset") or "", row["split"])].append(row)
    runs = len({row["run"] for row in rows})
    table = [["split", "A", "B", "problems", "both right", "A alone", "B alone", "A − B (points)",
              "p (McNemar)"]]
    for (_, split), group in groups.items():
        for a, b in combinations(group, 2):
            right_a = {item["id"]: item["correct"] for item in a.get("items", [])}
            right_b = {item["id"]: item["correct"] for item in b.get("items", [])}
            shared = right_a.keys() & right_b.keys()
            if not shared:
                continue
            only_a = sum(right_a[i] and not right_b[i] for i in shared)
            only_b = sum(right_b[i] and not right_a[i] for i in shared)
            both = sum(right_a[i] and right_b[i] for i in shared)
            table.append([split, _label(a, runs), _label(b, runs), str(len(shared)), str(both),
                          str(only_a), str(only_b), f"{100 * (only_a - only_b) / len(shared):+.1f}",
                          f"{mcnemar_exact(only_a, only_b):.2g}"])
    return table if len(table) > 1 else []


def steps_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    depths = sorted({d for row in rows for d in by_steps(row)})
    if not depths:
        return []
    table = [["run", "split", "method", *[f"{d} steps" for d in depths]]]
    for row in rows:
        counts = by_steps(row)
        cells = [f"{_pct(c / t)} ({t})" if t else "–" for c, t in (counts.get(d, (0, 0)) for d in depths)]
        table.append([row["run"], row["split"], row["method"], *cells])
    return table


def contamination_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Per run and split that was checked: the training problems sharing a run of words with it."""
    checked = {(row["run"], row["split"]): row["contamination"] for row in rows
               if row.get("contamination")}
    if not checked:
        return []
    table = [["run", "split", "training problems", "sharing a run of words", "left out"]]
    for (run, split), overlap in checked.items():
        share = overlap["sharing"] / overlap["train_problems"] if overlap["train_problems"] else 0.0
        table.append([run, split, str(overlap["train_problems"]),
                      f"{overlap['sharing']} ({_pct(share)}%, {overlap['ngram']} words)",
                      "yes" if overlap["dropped"] else "no"])
    return table


def first_errors(row: dict[str, Any]) -> dict[str, int]:
    """How many wrong predictions first went wrong in each way (`eval.diagnosis`)."""
    counts = dict.fromkeys(FIRST_ERRORS, 0)
    for item in row.get("items", []):
        if item.get("first_error") in counts:
            counts[item["first_error"]] += 1
    return counts


def errors_table(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Per method and split with classified mistakes: each kind's count and share of them."""
    classified = [(row, first_errors(row)) for row in rows]
    classified = [(row, counts) for row, counts in classified if sum(counts.values())]
    if not classified:
        return []
    table = [["run", "split", "method", "wrong, classified", *FIRST_ERRORS]]
    for row, counts in classified:
        total = sum(counts.values())
        table.append([row["run"], row["split"], row["method"], str(total),
                      *[f"{counts[kind]} ({_pct(counts[kind] / total)}%)" for kind in FIRST_ERRORS]])
    return table


def plot_first_errors(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One stacked bar per method and split: the share of each kind of first mistake."""
    classified = [(row, first_errors(row)) for row in rows]
    classified = [(row, counts) for row, counts in classified if sum(counts.values())]
    if not classified:
        return None
    fig, ax = _axes()
    several_runs = len({r["run"] for r in rows}) > 1
    labels = [f"{row['method']} · {row['split']}" + (f" · {row['run']}" if several_runs else "")
              for row, _ in classified]
    left = [0.0] * len(classified)
    for kind in FIRST_ERRORS:
        shares = [100 * counts[kind] / sum(counts.values()) for _, counts in classified]
        ax.barh(labels, shares, left=left, label=DESCRIPTIONS[kind])
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of wrong answers (%)")
    ax.set_title("Where wrong answers first went wrong")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(cells) + " |" for cells in table[1:]]
    return "\n".join(lines)


def _html_table(table: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in table[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _axes():
    """A fresh figure for one plot, drawn off-screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.2))


def _save(fig, ax, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy_by_steps(rows: list[dict[str, Any]], path: Path) -> Path | None:
    series = [(row, by_steps(row)) for row in rows]
    series = [(row, counts) for row, counts in series if counts]
    if not series:
        return None
    fig, ax = _axes()
    for row, counts in series:
        depths = list(counts)
        accuracy = [100 * c / t for c, t in counts.values()]
        lows, highs = zip(*(accuracy_with_ci(c, t)[1:] for c, t in counts.values()), strict=True)
        label = f"{row['method']} · {row['split']}"
        if len({r["run"] for r in rows}) > 1:
            label += f" · {row['run']}"
        line, = ax.plot(depths, accuracy, marker="o", label=label)
        ax.fill_between(depths, [100 * v for v in lows], [100 * v for v in highs], alpha=0.12,
                        color=line.get_color())
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("reasoning steps in the gold solution")
    ax.set_ylim(0, 100)
    return _save(fig, ax, path, "Accuracy by number of reasoning steps (95% CI shaded)")


def plot_accuracy_against_samples(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """For rows that chose among samples: best-of-k (by score), majority of k and pass@k."""
    series = [row for row in rows if (row.get("sampled") or {}).get("curve")]
    if not series:
        return None
    fig, ax = _axes()
    for row in series:
        curve = row["sampled"]["curve"]
        ks = [point["k"] for point in curve]
        label = f"{row['method']} · {row['split']}"
        line, = ax.plot(ks, [100 * p["majority"] for p in curve], marker="o", label=f"{label}: majority")
        color = line.get_color()
        ax.plot(ks, [100 * p["any_correct"] for p in curve], linestyle=":", color=color,
                label=f"{label}: pass@k")
        if all(p.get("best") is not None for p in curve):
            ax.plot(ks, [100 * p["best"] for p in curve], marker="s", linestyle="--", color=color,
                    label=f"{label}: best of k (verifier)")
    ax.set_xlabel("samples k")
    ax.set_ylim(0, 100)
    return _save(fig, ax, path, "Accuracy against the number of samples")


def plot_accuracy_vs_size(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Only when some method/split ran with students of several sizes."""
    groups: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        params = row.get("student", {}).get("parameters")
        if params:
            groups[(row["method"], row["split"])].append((params, 100 * row["accuracy"]))
    groups = {key: sorted(points) for key, points in groups.items() if len({p for p, _ in points}) > 1}
    if not groups:
        return None
    fig, ax = _axes()
    for (method, split), points in groups.items():
        ax.plot([p for p, _ in points], [a for _, a in points], marker="o", label=f"{method} · {split}")
    ax.set_xscale("log")
    ax.set_xlabel("student parameters")
    return _save(fig, ax, path, "Accuracy against student size")


def write_report(run_dirs: list[Path], out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and the PNG plots into `out_dir`; return their paths."""
    rows = collect(run_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [p for p in (plot_accuracy_by_steps(rows, out_dir / "accuracy_by_steps.png"),
                         plot_first_errors(rows, out_dir / "first_errors.png"),
                         plot_accuracy_against_samples(rows, out_dir / "accuracy_against_samples.png"),
                         plot_accuracy_vs_size(rows, out_dir / "accuracy_vs_size.png")) if p]
    results, depth, mistakes = results_table(rows), steps_table(rows), errors_table(rows)
    overlap, sampled, paired = contamination_table(rows), sampled_table(rows), paired_table(rows)
    paper = [["model", "training", "GSM8K accuracy %"]] + [[m, t, f"{a:.1f}"] for m, t, a in PAPER_GSM8K]
    show_paper = any(row.get("dataset", "").startswith("gsm8k") for row in rows)
    title = "socratic-distill report: " + ", ".join(sorted({row["run"] for row in rows}))

    md = [f"# {title}", "", "## Accuracy", "", _markdown(results), ""]
    if sampled:
        md += ["## Choosing among samples", "", _markdown(sampled), "", SAMPLED_NOTE, ""]
    if paired:
        md += ["## Method against method, problem by problem", "", _markdown(paired), "",
               PAIRED_NOTE, ""]
    if depth:
        md += ["## Accuracy by number of reasoning steps", "", _markdown(depth), ""]
    if mistakes:
        md += ["## Where wrong answers first went wrong", "", _markdown(mistakes), "",
               "; ".join(f"`{kind}`: {DESCRIPTIONS[kind]}" for kind in FIRST_ERRORS)
               + " (each wrong answer with gold steps, at its first wrong step).", ""]
    md += [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if overlap:
        md += ["## Train/test overlap", "", _markdown(overlap), "", OVERLAP_NOTE, ""]
    if show_paper:
        md += ["## Reported in the paper (Shridhar et al., 2023)", "", _markdown(paper), ""]
    md += ["Accuracy counts a missing or unparsable answer as wrong; intervals are Wilson 95%.", ""]

    images = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"></figure>' for p in plots
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left}th{background:#f4f4f4}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><h2>Accuracy</h2>{_html_table(results)}"
        + (f"<h2>Choosing among samples</h2>{_html_table(sampled)}<p>{html.escape(SAMPLED_NOTE)}</p>"
           if sampled else "")
        + (f"<h2>Method against method, problem by problem</h2>{_html_table(paired)}"
           f"<p>{html.escape(PAIRED_NOTE)}</p>" if paired else "")
        + (f"<h2>Accuracy by number of reasoning steps</h2>{_html_table(depth)}" if depth else "")
        + (f"<h2>Where wrong answers first went wrong</h2>{_html_table(mistakes)}"
           if mistakes else "")
        + images
        + (f"<h2>Train/test overlap</h2>{_html_table(overlap)}<p>{html.escape(OVERLAP_NOTE)}</p>"
           if overlap else "")
        + (f"<h2>Reported in the paper</h2>{_html_table(paper)}" if show_paper else "")
        + "<p>Accuracy counts a missing or unparsable answer as wrong; intervals are Wilson 95%.</p>"
        "</body></html>"
    )
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    with atomic_writer(paths["markdown"]) as handle:
        handle.write("\n".join(md))
    with atomic_writer(paths["html"]) as handle:
        handle.write(page)
    return {**paths, **{p.stem: p for p in plots}}
