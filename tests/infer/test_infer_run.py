"""solve_to_file: ordered output, resume, sharding with torchrun, student checks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infer_helpers import make_model, make_problems, save_student

from socratic_distill.errors import UserError
from socratic_distill.eval.evaluate import evaluate_predictions, load_predictions
from socratic_distill.formats import FORMAT_VERSION
from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import Generation, hf_generator
from socratic_distill.infer.run import check_student, load_generators, solve_to_file
from socratic_distill.jsonl import append_jsonl, read_jsonl
from socratic_distill.methods import ROLES
from socratic_distill.schemas import Prediction

HERE = Path(__file__).parent


class Counting:
    """Wraps a backend and counts the prompts it is asked to complete."""

    def __init__(self, fn):
        self.fn, self.prompts = fn, 0

    def __call__(self, prompts, **settings):
        self.prompts += len(prompts)
        return self.fn(prompts, **settings)


def cot(**fields):
    return make_config(method="cot", max_new_tokens=8, batch_size=2, **fields)


def test_writes_ordered_output_and_accuracy(model, tok, problems, tmp_path):
    out = tmp_path / "preds.jsonl"
    accuracy = solve_to_file(problems, out, {"model": hf_generator(model, tok)}, cot(),
                             chunk_size=4, progress=False)
    assert accuracy == 0.0  # a random model
    assert [p.id for p in read_jsonl(out, Prediction)] == [p.id for p in problems]
    assert not list(tmp_path.glob("*.partial*"))


def test_resume_solves_only_the_rest(model, tok, problems, tmp_path):
    reference = tmp_path / "reference.jsonl"
    solve_to_file(problems, reference, {"model": hf_generator(model, tok)}, cot(), progress=False)
    expected = read_jsonl(reference, Prediction)

    out = tmp_path / "preds.jsonl"
    partial = tmp_path / "preds.jsonl.partial"
    for prediction in (expected[3], expected[0]):
        append_jsonl(partial, prediction)
    append_jsonl(partial, Prediction(id="p4", error="RuntimeError: out of memory"))  # retried
    with partial.open("a") as handle:
        handle.write('{"id": "p5", "predic')  # torn by a crash
    counting = Counting(hf_generator(model, tok))
    with pytest.raises(UserError, match="--resume"):
        solve_to_file(problems, out, {"model": counting}, cot(), progress=False)
    solve_to_file(problems, out, {"model": counting}, cot(), resume=True, chunk_size=2,
                  progress=False)
    assert counting.prompts == len(problems) - 2  # one prompt per cot problem
    written = read_jsonl(out, Prediction)
    assert [p.id for p in written] == [p.id for p in problems]
    strip = {"seconds"}
    assert [p.model_dump(exclude=strip) for p in written] == [
        p.model_dump(exclude=strip) for p in expected]
    assert not partial.exists()


def test_partial_of_another_dataset_is_refused(model, tok, problems, tmp_path):
    out = tmp_path / "preds.jsonl"
    append_jsonl(tmp_path / "preds.jsonl.partial", Prediction(id="elsewhere-1", answer="3"))
    with pytest.raises(UserError, match="another --dataset"):
        solve_to_file(problems, out, {"model": hf_generator(model, tok)}, cot(), resume=True,
                      progress=False)


def test_empty_and_duplicate_problem_lists(model, tok, problems, tmp_path):
    fns = {"model": hf_generator(model, tok)}
    with pytest.raises(UserError, match="empty"):
        solve_to_file([], tmp_path / "a.jsonl", fns, cot(), progress=False)
    with pytest.raises(UserError, match="more than once"):
        solve_to_file(problems + problems[:1], tmp_path / "a.jsonl", fns, cot(), progress=False)


def test_check_student():
    check_student({"task": "qa", "format_version": FORMAT_VERSION}, ("qa",), "--qa", "/m")
    with pytest.raises(UserError, match=r"--qa: /m is a `qg` student \(decomposer\); "
                                        r"expected a `qa` student"):
        check_student({"task": "qg", "format_version": FORMAT_VERSION}, ("qa",), "--qa", "/m")
    socratic = ROLES["socratic"]  # a unified student plays either role, a decomposer only its own
    check_student({"task": "unified", "format_version": FORMAT_VERSION}, socratic["qa"], "--qa", "/m")
    with pytest.raises(UserError, match=r"expected a `qa` or `unified` student"):
        check_student({"task": "qg", "format_version": FORMAT_VERSION}, socratic["qa"], "--qa", "/m")
    with pytest.raises(UserError, match="format_version 0"):
        check_student({"task": "qa", "format_version": 0}, ("qa",), "--qa", "/m")


def test_load_generators_checks_and_loads(tok, problems, tmp_path):
    pytest.importorskip("socratic_distill.train")
    qg = save_student(make_model(tok, seed=1), tok, tmp_path / "qg", "qg")
    qa = save_student(make_model(tok, seed=2), tok, tmp_path / "qa", "qa")
    generators = load_generators("socratic", {"qg": qg, "qa": qa})
    accuracy = solve_to_file(problems[:2], tmp_path / "out.jsonl", generators,
                             make_config(method="socratic", max_steps=1, max_new_tokens=6),
                             progress=False)
    written = load_predictions(tmp_path / "out.jsonl")
    assert [p.id for p in written] == [p.id for p in problems[:2]]
    assert all(p.error is None and len(p.steps) == 1 for p in written)  # max_steps=1
    assert accuracy == evaluate_predictions(problems[:2], written, mode="strict").accuracy
    with pytest.raises(UserError, match=r"--qa: .* is a `qg` student"):
        load_generators("socratic", {"qg": qg, "qa": qg})
    with pytest.raises(UserError, match="needs --model"):
        load_generators("cot", {"qg": qg})
    with pytest.raises(UserError, match="no student.json"):
        load_generators("socratic", {"qg": qg, "qa": tmp_path})
    assert set(load_generators("socratic", {"qa": qa}, guidance="gold")) == {"qa"}


def test_vllm_backend_missing_is_a_user_error(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed")
    from socratic_distill.infer.vllm_backend import vllm_generator

    with pytest.raises(UserError, match=r"pip install 'socratic-distill\[vllm\]'"):
        vllm_generator(tmp_path)


@pytest.mark.slow
def test_torchrun_shards_merge_into_the_single_process_output(tmp_path):
    single = tmp_path / "single.jsonl"
    sharded = tmp_path / "sharded.jsonl"
    worker = HERE / "shard_worker.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(worker), str(single)], check=True, env=env, timeout=300)
    torchrun = Path(sys.executable).parent / "torchrun"
    subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29533", str(worker),
         str(sharded)], check=True, env=env, timeout=300,
    )
    lines = [json.loads(line) for line in sharded.read_text().splitlines()]
    ids = [p.id for p in make_problems(9)]
    assert [line["id"] for line in lines] == ids
    expected = [json.loads(line) for line in single.read_text().splitlines()]
    assert [x["prediction"] for x in lines] == [x["prediction"] for x in expected]
    assert not list(tmp_path.glob("*.partial*"))


def test_accuracy_counts_matching_answers(problems, tmp_path):
    gold = {p.question: p.answer for p in problems}

    def oracle(prompts, **settings):  # right on even problems, wrong on odd ones
        out = []
        for prompt in prompts:
            number = next(i for i, p in enumerate(problems) if p.question in prompt)
            answer = gold[problems[number].question] if number % 2 == 0 else "-1"
            out.append(Generation(f"#### {answer}", 5, 2, "newline"))
        return out

    out = tmp_path / "preds.jsonl"
    config = make_config(method="answer")
    assert solve_to_file(problems, out, {"model": oracle}, config, progress=True) == 0.5


def test_progress_keeps_the_rate_once_finished(capsys):
    import re
    import time

    from socratic_distill.infer.run import _progress

    with _progress(3, True) as bar:
        task = bar.add_task("solve", total=3)
        time.sleep(0.05)
        bar.advance(task, 3)  # one update for the whole run, as one slow batch gives
    assert re.search(r"3/3 \d+\.\d\d problems/s", capsys.readouterr().err)
