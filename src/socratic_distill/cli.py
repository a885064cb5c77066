"""The `socratic-distill` command line: one thin command per stage.

Each command reads its inputs, calls the core, and writes its outputs. Heavy imports happen
inside the commands so that `--help` stays instant. A `UserError` anywhere becomes a one-line
`error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from socratic_distill import versions
from socratic_distill.errors import UserError, validated
from socratic_distill.infer.config import solve_default

app = typer.Typer(
    name="socratic-distill",
    help="Distil step-by-step reasoning from a large teacher into small students (Socratic CoT).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect and export datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DatasetArg = Annotated[str, typer.Argument(help="NAME[:SPLIT], e.g. gsm8k:test, synthetic:train")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="NAME[:SPLIT], e.g. gsm8k:test")]
LimitOpt = Annotated[int | None, typer.Option(help="Only the first N problems of the split.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Directory of original dataset files (else $SOCRATIC_DATA_DIR, else the hub).",
    ),
]
OptionsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset-option", "-o", help="KEY=VALUE for the dataset, e.g. max_steps=6 (repeatable)."
    ),
]


def parse_key_values(pairs: list[str] | None, flag: str = "--dataset-option") -> dict[str, Any]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"}; values stay strings for pydantic to coerce."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects KEY=VALUE, got `{pair}`")
        options[key.strip()] = value.strip()
    return options


def load_dataset_arg(
    spec: str, limit: int | None, data_dir: Path | None, options: list[str] | None
):
    from socratic_distill.data.registry import load_problems

    problems = load_problems(
        spec, limit=limit, data_dir=data_dir, options=parse_key_values(options)
    )
    if not problems:
        raise UserError(f"dataset `{spec}` is empty")
    return problems


@data_app.command("show")
def data_show(
    dataset: DatasetArg,
    limit: LimitOpt = 3,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
) -> None:
    """Print a few normalised problems, with their gold reasoning."""
    for problem in load_dataset_arg(dataset, limit, data_dir, dataset_option):
        typer.echo(json.dumps(problem.model_dump(exclude_none=True), indent=2, ensure_ascii=False))


@data_app.command("export")
def data_export(
    dataset: DatasetArg,
    out: Annotated[Path, typer.Option(help="Output JSONL of normalised problems.")],
    limit: LimitOpt = None,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
) -> None:
    """Write the normalised problems of a split as JSONL: the format every later stage reads."""
    from socratic_distill.jsonl import write_jsonl

    count = write_jsonl(out, load_dataset_arg(dataset, limit, data_dir, dataset_option))
    typer.echo(f"wrote {count} problems to {out}")


@data_app.command("list")
def data_list() -> None:
    """List the registered datasets and their splits."""
    from socratic_distill.data.registry import DATASETS, _ensure_registered

    _ensure_registered()
    for spec in sorted(DATASETS.values(), key=lambda s: s.name):
        splits = "FILE" if spec.free_split else ", ".join(spec.splits)
        typer.echo(f"{spec.name:<12} {splits:<36} {spec.description}")


@app.command()
def evaluate(
    predictions: Annotated[Path, typer.Option(help="JSONL with lines {id, prediction[, answer]}.")],
    dataset: DatasetOpt,
    limit: LimitOpt = None,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
    mode: Annotated[str, typer.Option(help="Answer extraction: strict or flexible.")] = "flexible",
    out: Annotated[Path | None, typer.Option(
        help="Write the evaluation record (JSON) here, for `report F` or a run's metrics.json.")] = None,
    method: Annotated[str | None, typer.Option(
        help="The method the predictions came from, for the record; default: the file's name.")] = None,
) -> None:
    """Score a predictions file against a dataset's gold answers."""
    from socratic_distill.eval.evaluate import (
        Evaluation,
        evaluate_predictions,
        format_summary,
        load_predictions,
    )

    if mode not in ("strict", "flexible"):
        raise UserError(f"--mode must be strict or flexible, got `{mode}`")
    problems = load_dataset_arg(dataset, limit, data_dir, dataset_option)
    result = evaluate_predictions(problems, load_predictions(predictions), mode=mode)
    typer.echo(format_summary(result))
    if out is not None:
        from socratic_distill.jsonl import atomic_writer

        record = Evaluation(method=method or predictions.stem, split=dataset.rpartition(":")[2],
                            dataset=dataset, **result.model_dump())
        with atomic_writer(out) as handle:
            handle.write(record.model_dump_json(indent=1) + "\n")
        typer.echo(f"metrics written to {out}")


@app.command()
def annotate(
    dataset: DatasetOpt,
    teacher: Annotated[str, typer.Option(help="openai:MODEL, hf:PATH, gold, replay:FILE, synthetic.")],
    out: Annotated[Path, typer.Option(help="Annotations JSONL (append-only, resumable).")],
    style: Annotated[str, typer.Option(help="socratic or cot.")] = "socratic",
    samples: Annotated[int, typer.Option(help="Completions per problem.")] = 1,
    limit: LimitOpt = None,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
    prompt: Annotated[Path | None, typer.Option(help="Few-shot prompt file.")] = None,
    show_gold: Annotated[bool, typer.Option(help="Show the teacher the gold solution.")] = False,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Env variable with the API key.")] = None,
    api: Annotated[str | None, typer.Option(help="chat or completions.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request attempt.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries per request.")] = None,
    max_requests: Annotated[int | None, typer.Option(help="Stop after N paid requests.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Stop after this many USD.")] = None,
    price_prompt: Annotated[float | None, typer.Option(help="USD per 1M prompt tokens.")] = None,
    price_completion: Annotated[float | None, typer.Option(help="USD per 1M completion tokens.")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite cache (default beside --out).")] = None,
    keep_incorrect: Annotated[bool, typer.Option(help="Keep wrong samples, flagged.")] = False,
    noise: Annotated[float | None, typer.Option(help="synthetic teacher: step corruption rate.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest completion.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
) -> None:
    """Have a teacher decompose (or solve) each problem; keep what checks out."""
    from socratic_distill.teacher import annotate as run_annotate
    from socratic_distill.teacher import make_config

    prices = None
    if price_prompt is not None or price_completion is not None:
        prices = {"prompt": price_prompt or 0.0, "completion": price_completion or 0.0}
    fields = {
        "teacher": teacher, "style": style, "samples": samples, "prompt": prompt,
        "show_gold": show_gold, "base_url": base_url, "api_key_env": api_key_env, "api": api,
        "concurrency": concurrency, "timeout": timeout, "max_retries": max_retries,
        "max_requests": max_requests, "max_cost": max_cost, "prices": prices, "cache": cache,
        "keep_incorrect": keep_incorrect, "noise": noise, "temperature": temperature,
        "max_tokens": max_tokens, "seed": seed,
    }
    config = make_config(**{k: v for k, v in fields.items() if v is not None})
    problems = load_dataset_arg(dataset, limit, data_dir, dataset_option)
    summary = run_annotate(problems, config, out)
    typer.echo(summary.format())


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="Directory for the training sets.")],
    annotations: Annotated[
        Path | None, typer.Option(help="Annotated problems JSONL (e.g. from `data export`).")
    ] = None,
    verifier_samples: Annotated[Path | None, typer.Option(
        help="Instead: predictions from `solve --samples N --keep-samples` on training problems "
        "(with --dataset): writes the verifier's training set, verifier.jsonl.")] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="The annotated dataset (teacher output).")
    ] = None,
    limit: LimitOpt = None,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
    qg_without_solutions: Annotated[
        bool, typer.Option(help="Ablation: the decomposer sees earlier subquestions only.")
    ] = False,
    check_against: Annotated[list[str] | None, typer.Option(
        help="An evaluation split (e.g. gsm8k:test) to count training problems sharing a run "
        "of 8 words with; repeatable.")] = None,
    drop_contaminated: Annotated[bool, typer.Option(
        help="Leave out the training problems that --check-against finds.")] = False,
    verifier_balanced: Annotated[bool, typer.Option(
        help="With --verifier-samples: only problems with both right and wrong samples, as "
        "many of each.")] = False,
    verifier_stepwise: Annotated[bool, typer.Option(
        help="With --verifier-samples: a verdict after every step, each labelled by where the "
        "sample first departs from the gold steps (a stepwise verifier).")] = False,
) -> None:
    """Write the five training sets (answer, cot, unified, qg, qa), or the verifier's, as JSONL."""
    from socratic_distill.build import build_from_file, build_verifier_set

    if (annotations is None) == (verifier_samples is None):
        raise UserError("build needs exactly one of --annotations FILE or --verifier-samples FILE")
    for flag, given in (("--verifier-balanced", verifier_balanced),
                        ("--verifier-stepwise", verifier_stepwise)):
        if given and verifier_samples is None:
            raise UserError(f"{flag} applies to --verifier-samples only")
    if verifier_samples is not None and dataset is None:
        raise UserError("--verifier-samples needs --dataset: the gold answers label the samples")
    problems = load_dataset_arg(dataset, limit, data_dir, dataset_option) if dataset else None
    if verifier_samples is not None:
        counts = build_verifier_set(verifier_samples, out, problems, balanced=verifier_balanced,
                                    stepwise=verifier_stepwise)
        typer.echo(f"verifier {counts['verifier']:>7} examples ({counts['right']} right, "
                   f"{counts['wrong']} wrong) -> {out / 'verifier.jsonl'}")
        return
    evaluations = {spec: load_dataset_arg(spec, None, data_dir, None) for spec in check_against or []}
    counts = build_from_file(
        annotations, out, problems=problems, qg_include_solutions=not qg_without_solutions,
        check_against=evaluations, drop_contaminated=drop_contaminated,
    )
    for task, count in counts.items():
        typer.echo(f"{task:<8} {count:>7} examples -> {out / (task + '.jsonl')}")


@app.command()
def train(
    task: Annotated[str, typer.Option(help="answer, cot, unified, qg, qa or verifier.")],
    data: Annotated[Path, typer.Option(help="Directory written by `build`.")],
    model: Annotated[str, typer.Option(
        help="HF id, local dir, .gguf file, or scratch:tiny|small|base[:gpt2|llama|bloom|nope].")],
    out: Annotated[Path, typer.Option(help="Output model directory.")],
    epochs: Annotated[float | None, typer.Option(help="Passes over the training set.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimiser steps; overrides --epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per batch per process.")] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Gradient accumulation steps.")] = None,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged at the end).")] = False,
    validation_fraction: Annotated[float | None, typer.Option(help="Held out for early stopping.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    verifier_loss: Annotated[str | None, typer.Option(
        help="Task verifier: verdict (each solution's yes or no) or pairs (a problem's right "
        "solutions ranked above its wrong ones).")] = None,
    report_to: Annotated[str | None, typer.Option(help="none, tensorboard or wandb.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML of TrainConfig fields; flags win.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
) -> None:
    """Fine-tune a student on one task (runs under `accelerate launch` / `torchrun` as is)."""
    from socratic_distill.methods import TASKS
    from socratic_distill.train import TrainConfig, train_student

    if task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, got `{task}`")
    fields = _yaml_fields(config)
    fields.update({k: v for k, v in {
        "epochs": epochs, "max_steps": max_steps, "learning_rate": learning_rate,
        "batch_size": batch_size, "grad_accum": grad_accum, "lora": lora or None,
        "validation_fraction": validation_fraction, "seed": seed, "report_to": report_to,
        "verifier_loss": verifier_loss,
    }.items() if v is not None})
    settings = validated(TrainConfig, fields, str(config or "train"))
    path = train_student(task, data, model, out, settings, resume=resume)
    typer.echo(f"student `{task}` written to {path}")


def _yaml_fields(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        fields = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{path}: invalid YAML ({error})") from None
    if not isinstance(fields, dict):
        raise UserError(f"{path}: expected a mapping of settings")
    return fields


@app.command()
def solve(
    method: Annotated[str, typer.Option(help="answer, cot, unified or socratic.")],
    dataset: DatasetOpt,
    out: Annotated[Path, typer.Option(help="Predictions JSONL.")],
    model: Annotated[Path | None, typer.Option(help="Student for answer, cot, unified.")] = None,
    qg: Annotated[Path | None, typer.Option(help="Decomposer student (socratic).")] = None,
    qa: Annotated[Path | None, typer.Option(help="Solver student (socratic).")] = None,
    limit: LimitOpt = None,
    data_dir: DataDirOpt = None,
    dataset_option: OptionsOpt = None,
    guidance: Annotated[str, typer.Option(help="model, or gold: gold subquestions (ablation).")] = \
        solve_default("guidance"),
    temperature: Annotated[float, typer.Option(help="0 decodes greedily.")] = solve_default("temperature"),
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = solve_default("top_p"),
    samples: Annotated[int, typer.Option(help="Self-consistency: majority vote over N.")] = \
        solve_default("samples"),
    verifier: Annotated[Path | None, typer.Option(
        help="A verifier student (train --task verifier) that scores every sample.")] = None,
    vote: Annotated[str | None, typer.Option(
        help="majority, best (best-of-N by score) or weighted; with --verifier default best.")] = None,
    keep_samples: Annotated[bool, typer.Option(
        help="Record every sample's text (the verifier's training material).")] = False,
    max_steps: Annotated[int, typer.Option(help="socratic: most subquestions.")] = solve_default("max_steps"),
    max_new_tokens: Annotated[int | None, typer.Option(help="Token budget per completion.")] = \
        solve_default("max_new_tokens"),
    calculator: Annotated[bool, typer.Option(help="Compute <<expr= annotations.")] = \
        solve_default("calculator"),
    batch_size: Annotated[int, typer.Option(help="Rows decoded together.")] = solve_default("batch_size"),
    backend: Annotated[str, typer.Option(help="hf, or vllm (GPU servers).")] = "hf",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = solve_default("seed"),
    resume: Annotated[bool, typer.Option(help="Finish an interrupted run.")] = False,
) -> None:
    """Solve a dataset split with trained students; prints the accuracy when gold answers exist."""
    from socratic_distill.infer.config import make_config
    from socratic_distill.infer.run import load_generators, solve_to_file

    if verifier is not None and samples < 2:
        raise UserError("--verifier ranks samples: pass --samples N with N >= 2 (and --temperature)")
    config = make_config(
        method=method, guidance=guidance, temperature=temperature, top_p=top_p, samples=samples,
        max_steps=max_steps, max_new_tokens=max_new_tokens, calculator=calculator,
        batch_size=batch_size, seed=seed, keep_samples=keep_samples,
        vote=vote or ("best" if verifier is not None else "majority"),
    )
    if verifier is not None:
        from socratic_distill.infer.verifier import check_verifier

        check_verifier(verifier)
    problems = load_dataset_arg(dataset, limit, data_dir, dataset_option)
    generators = load_generators(
        config.method, {"model": model, "qg": qg, "qa": qa}, backend=backend, guidance=guidance
    )
    scorer = None
    if verifier is not None:
        from socratic_distill.infer.verifier import load_scorer

        scorer = load_scorer(verifier)
    accuracy = solve_to_file(problems, out, generators, config, resume=resume, scorer=scorer)
    typer.echo(f"wrote {len(problems)} predictions to {out}")
    if accuracy is not None:
        typer.echo(f"accuracy {100 * accuracy:.1f}% on {len(problems)} problems")


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    only: Annotated[str | None, typer.Option(help="Run this stage only (e.g. train-qg).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; run nothing.")] = False,
    run_dir: Annotated[Path | None, typer.Option(help="Override the config's run_dir.")] = None,
) -> None:
    """Run an experiment: annotate -> build -> train -> solve -> evaluate -> report."""
    from socratic_distill.config import load_config

    experiment = load_config(config)
    if run_dir is not None:
        experiment = experiment.model_copy(update={"run_dir": str(run_dir)})
    _run_and_print(experiment, only=only, dry_run=dry_run)


def _run_and_print(experiment, only: str | None = None, dry_run: bool = False) -> None:
    from socratic_distill.pipeline import results_table, run_experiment

    records = run_experiment(experiment, only=only, dry_run=dry_run)
    if dry_run:
        return
    rows = results_table(records)
    if rows:
        typer.echo(f"\n{'method':<15}{'split':<12}{'accuracy':>9}  95% CI          n")
        for method, split, accuracy, low, high, n in rows:
            typer.echo(f"{method:<15}{split:<12}{100 * accuracy:>8.1f}%  "
                       f"{100 * low:5.1f}–{100 * high:5.1f}  {n:>5}")
    measured = {(method, split): accuracy for method, split, accuracy, *_ in rows}
    if experiment.targets:
        typer.echo("\ntargets")
        for method, splits in experiment.targets.items():
            for split, aim in splits.items():
                got = measured.get((method, split))
                verdict = "not run" if got is None else \
                    "reached" if 100 * got >= aim else "not reached"
                shown = "–" if got is None else f"{100 * got:.1f}%"
                typer.echo(f"{method:<15}{split:<12}{shown:>9}  aim {aim:g}%  {verdict}")
    report = records.get("report", {}).get("summary", {}).get("markdown")
    if report:
        typer.echo(f"\nreport: {report}")


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="Run directories, or evaluation files written by `evaluate --out`.")],
    out: Annotated[Path | None, typer.Option(help="Output directory; default RUN_DIR/report.")] = None,
) -> None:
    """Markdown + HTML report with plots over one or several runs."""
    from socratic_distill.eval.report import write_report

    default = run_dirs[0] / "report" if run_dirs[0].is_dir() else run_dirs[0].parent / "report"
    paths = write_report(run_dirs, out or default)
    for name, path in paths.items():
        typer.echo(f"{name:<18} {path}")


@app.command()
def serve(
    qg: Annotated[Path | None, typer.Option(help="Decomposer student (socratic).")] = None,
    qa: Annotated[Path | None, typer.Option(help="Solver student (socratic).")] = None,
    model: Annotated[Path | None, typer.Option(help="An answer, cot or unified student.")] = None,
    verifier: Annotated[Path | None, typer.Option(
        help="A verifier (train --task verifier): requests of several samples get the best-scored.")] = None,
    host: Annotated[str, typer.Option(help="Interface; loopback unless told otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key_env: Annotated[str | None, typer.Option(help="Env variable holding the API key.")] = None,
    backend: Annotated[str, typer.Option(help="hf, or vllm.")] = "hf",
    batching: Annotated[bool, typer.Option(help="Continuous batching across requests.")] = True,
    queue_size: Annotated[int | None, typer.Option(help="Waiting requests before 503.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    max_batch_rows: Annotated[int | None, typer.Option(help="Rows decoded together.")] = None,
    admit_wait: Annotated[float | None, typer.Option(
        help="Seconds to wait before a turn for requests to take freed places (default 0.02).")] = None,
) -> None:
    """Serve students over HTTP: /v1/solve (+ streaming), OpenAI-compatible API, a web page."""
    from socratic_distill.serve import make_serve_config
    from socratic_distill.serve import serve as run_server

    fields = {"batching": batching, "queue_size": queue_size, "timeout": timeout,
              "max_batch_rows": max_batch_rows, "admit_wait": admit_wait}
    config = make_serve_config(**{k: v for k, v in fields.items() if v is not None})
    run_server(qg=qg, qa=qa, model=model, host=host, port=port, api_key_env=api_key_env,
               backend=backend, config=config, verifier=verifier)


@app.command()
def quickstart(
    run_dir: Annotated[Path, typer.Option(help="Where the run lives.")] = Path("runs/quickstart"),
) -> None:
    """The built-in experiment: synthetic data, scratch students, every method, offline on CPU."""
    from importlib.resources import files

    from socratic_distill.config import load_config

    experiment = load_config(Path(str(files("socratic_distill") / "configs" / "quickstart.yaml")))
    _run_and_print(experiment.model_copy(update={"run_dir": str(run_dir)}))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        versions.check()  # an unsupported torch or transformers stops here, in one line
        code = typer.main.get_command(app).main(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:  # usage errors: one line, like every other bad input
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare command shows its help
            typer.echo(error.format_message())
            sys.exit(0)
        context = f"{error.ctx.command_path}: " if getattr(error, "ctx", None) else ""
        typer.echo(f"error: {context}{error.format_message()}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
