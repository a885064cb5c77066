"""The report: tables, plots and a self-contained HTML page from evaluation records."""

import json

import pytest

from socratic_distill.errors import UserError
from socratic_distill.eval.report import by_steps, write_report


def record(method, correct_by_depth, params=None, dataset="synthetic"):
    items = [
        {"id": f"{depth}-{i}", "gold": "1", "predicted": "1" if ok else "2", "correct": ok,
         "num_steps": depth, "tokens": 10 * depth}
        for depth, flags in correct_by_depth.items() for i, ok in enumerate(flags)
    ]
    correct = sum(item["correct"] for item in items)
    return {"method": method, "split": "test", "dataset": dataset, "total": len(items),
            "scored": len(items), "correct": correct, "accuracy": correct / len(items),
            "ci_low": 0.1, "ci_high": 0.9, "unparsable": 0, "missing_ids": [], "unknown_ids": [],
            "duplicate_ids": [], "errors": 0, "mode": "flexible",
            "items": items, "student": {"model": "scratch:tiny", "parameters": params},
            "train_seconds": 30.0, "solve_seconds": 300.0}


def write_run(root, name, records):
    for i, rec in enumerate(records):
        path = root / name / f"evaluate-{i}" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(rec))
    return root / name


def test_accuracy_by_steps_counts_each_depth():
    rec = record("socratic", {2: [True, True], 3: [True, False, False]})
    assert by_steps(rec) == {2: (2, 2), 3: (1, 3)}


def test_report_has_tables_plots_and_an_offline_page(tmp_path):
    run = write_run(tmp_path, "run-a", [
        record("answer", {2: [False, True], 3: [False, False]}),
        record("socratic", {2: [True, True], 3: [True, False]}),
    ])
    paths = write_report([run], tmp_path / "report")
    markdown = paths["markdown"].read_text()
    row = "| run-a | test | socratic | scratch:tiny | 75.0 (10.0–90.0) | 4 | 25 | 30 s | 5.0 min |"
    assert row in markdown
    assert "100.0 (2)" in markdown and "50.0 (2)" in markdown  # by-steps cells
    assert paths["accuracy_by_steps"].read_bytes().startswith(b"\x89PNG")
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page  # no external assets
    assert "Reported in the paper" not in page  # not a GSM8K run


def test_several_runs_and_sizes_give_a_size_plot_and_paper_figures(tmp_path):
    small = write_run(tmp_path, "small", [record("socratic", {2: [True, False]}, 1e6, "gsm8k:test")])
    large = write_run(tmp_path, "large", [record("socratic", {2: [True, True]}, 1e8, "gsm8k:test")])
    paths = write_report([small, large], tmp_path / "report")
    assert "accuracy_vs_size" in paths
    markdown = paths["markdown"].read_text()
    assert "| small |" in markdown and "| large |" in markdown
    assert "21.1" in markdown and "14.1" in markdown


def test_no_results_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no evaluation results"):
        write_report([tmp_path / "empty"], tmp_path / "report")
    with pytest.raises(UserError, match="no such run directory or evaluation file"):
        write_report([tmp_path / "missing"], tmp_path / "report")


def test_the_report_shows_where_wrong_answers_first_went_wrong(tmp_path):
    from socratic_distill.eval.report import errors_table

    socratic = record("socratic", {2: [True, False, False, False], 3: [False]})
    for item, kind in zip([i for i in socratic["items"] if not i["correct"]],
                          ["steps", "steps", "miscopied", "subquestion"], strict=True):
        item["first_error"] = kind
    answer = record("answer", {2: [False, False]})  # no steps: nothing classified
    run = write_run(tmp_path, "run-e", [answer, socratic])
    table = errors_table([answer | {"run": "run-e"}, socratic | {"run": "run-e"}])
    assert len(table) == 2 and table[1][2] == "socratic" and table[1][3] == "4"
    assert table[1][4] == "2 (50.0%)" and table[1][0 + 4 + 3] == "1 (25.0%)"  # steps, miscopied
    paths = write_report([run], tmp_path / "out")
    markdown = paths["markdown"].read_text()
    assert "## Where wrong answers first went wrong" in markdown and "first_errors.png" in markdown
    assert paths["first_errors"].stat().st_size > 1000
    assert "Where wrong answers first went wrong" in paths["html"].read_text()


def test_the_report_shows_the_train_test_overlap_when_it_was_checked(tmp_path):
    overlap = {"against": "synthetic:test", "ngram": 8, "train_problems": 400, "sharing": 30,
               "dropped": False, "examples": ["p1"]}
    checked = write_run(tmp_path, "checked", [
        {**record("cot", {2: [True]}), "contamination": overlap},
        {**record("socratic", {2: [True]}), "contamination": overlap}])
    unchecked = write_run(tmp_path, "plain", [record("cot", {2: [True]})])
    paths = write_report([checked, unchecked], tmp_path / "report")
    markdown = paths["markdown"].read_text()
    assert "| checked | test | 400 | 30 (7.5%, 8 words) | no |" in markdown
    assert markdown.count("| checked | test | 400 |") == 1 and "| plain | test | " not in \
        markdown.split("## Train/test overlap")[1]
    assert "Train/test overlap" in paths["html"].read_text()
    paths = write_report([unchecked], tmp_path / "report-plain")
    assert "Train/test overlap" not in paths["markdown"].read_text()


def test_ranked_samples_are_read_against_majority_and_pass_at_n(tmp_path):
    ranked = record("socratic+verifier", {2: [True, True, False, False]})
    ranked["sampled"] = {"samples": 8, "majority": 0.25, "any_correct": 0.75, "scoring_cost": 0.125,
                         "ranking": 0.625, "ranking_problems": 3,
                         "curve": [{"k": k, "majority": 0.25, "any_correct": min(0.75, 0.25 * k),
                                    "best": 0.25 + k / 32} for k in range(1, 9)]}
    run = write_run(tmp_path, "run-v", [record("socratic", {2: [True, False, False, False]}), ranked])
    paths = write_report([run], tmp_path / "report")
    markdown = paths["markdown"].read_text()
    assert paths["accuracy_against_samples"].read_bytes().startswith(b"\x89PNG")
    assert "| run-v | test | socratic+verifier | 8 | 50.0 | 25.0 | 75.0 | 50% | 0.62 | 12.5% |" in markdown
    # Rows in method order: each M+verifier right after M.
    assert markdown.index("| socratic |") < markdown.index("| socratic+verifier | scratch")


def test_two_methods_are_compared_on_the_problems_both_answered(tmp_path):
    cot = record("cot", {2: [True] * 10 + [False] * 4 + [True]})
    socratic = record("socratic", {2: [False] * 10 + [True] * 4})  # no answer to the 15th
    elsewhere = record("unified", {2: [True] * 15})
    elsewhere["split"] = "validation"
    paths = write_report([write_run(tmp_path, "run-a", [cot, socratic, elsewhere])],
                         tmp_path / "report")
    markdown = paths["markdown"].read_text()
    # 14 shared problems: cot alone solves 10, socratic alone 4; exact p = 2 P(X <= 4 | 14, 1/2)
    assert "| test | cot | socratic | 14 | 0 | 10 | 4 | +42.9 | 0.18 |" in markdown
    assert "| validation |" not in markdown.split("problem by problem")[1].split("##")[0]
    assert "McNemar" in paths["html"].read_text()
