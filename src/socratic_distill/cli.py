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

from socratic_distill.errors import UserError

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
    out: Annotated[Path | None, typer.Option(help="Write metrics as JSON here.")] = None,
) -> None:
    """Score a predictions file against a dataset's gold answers."""
    from socratic_distill.eval.evaluate import (
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

        with atomic_writer(out) as handle:
            handle.write(result.model_dump_json(indent=2, exclude={"items"}) + "\n")
        typer.echo(f"metrics written to {out}")


@app.command()
def build(
    annotations: Annotated[
        Path, typer.Option(help="Annotated problems JSONL (e.g. from `data export`).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for the training sets.")],
    qg_without_solutions: Annotated[
        bool, typer.Option(help="Ablation: the decomposer sees earlier subquestions only.")
    ] = False,
) -> None:
    """Write the five training sets (answer, cot, unified, qg, qa) as JSONL."""
    from socratic_distill.build import build_from_file

    counts = build_from_file(annotations, out, qg_include_solutions=not qg_without_solutions)
    for task, count in counts.items():
        typer.echo(f"{task:<8} {count:>7} examples -> {out / (task + '.jsonl')}")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        app()
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
