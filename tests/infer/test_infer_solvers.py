"""The solving methods: tiny real models end to end, scripted fake backends for the logic."""

from __future__ import annotations

import pytest
from infer_helpers import Scripted

import socratic_distill.infer.generate as generate_module
from socratic_distill.errors import UserError
from socratic_distill.eval.answers import majority_vote
from socratic_distill.formats import END_MARKER, qa_prompt
from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import Generation, generate_naive, hf_generator
from socratic_distill.infer.solvers import solve
from socratic_distill.schemas import Prediction, Step


@pytest.mark.parametrize("method", ["answer", "cot", "unified", "socratic"])
def test_every_method_end_to_end(method, model, tok, problems):
    fn = hf_generator(model, tok)
    roles = {"qg": fn, "qa": fn} if method == "socratic" else {"model": fn}
    config = make_config(method=method, max_new_tokens=12, max_steps=2, batch_size=4)
    predictions = solve(problems, roles, config)
    assert [p.id for p in predictions] == [p.id for p in problems]
    calls = 2 * config.max_steps + 1 if method == "socratic" else 1  # qg, qa per step; qg's end
    for prediction, problem in zip(predictions, problems, strict=True):
        assert isinstance(prediction, Prediction) and prediction.error is None
        assert prediction.prompt_tokens >= len(tok(problem.question)["input_ids"])
        assert 0 < prediction.completion_tokens <= calls * config.max_new_tokens
        assert prediction.seconds >= 0
        assert Prediction.model_validate_json(prediction.model_dump_json()) == prediction
    if method == "socratic":
        for prediction in predictions:
            assert 1 <= len(prediction.steps) <= 2
            text = " ".join(prediction.prediction.split())  # steps hold whitespace-normalised turns
            for step in prediction.steps:  # the dialogue text holds every turn it parsed
                assert " ".join(f"Q: {step.subquestion}".split()) in text
                assert " ".join(f"A: {step.solution}".split()) in text


@pytest.mark.parametrize("refill_at", [None, 0.25])
def test_socratic_batched_equals_naive(model, tok, problems, refill_at, monkeypatch):
    monkeypatch.setitem(generate_module.REFILL_AT, "cpu", refill_at)
    config = make_config(method="socratic", max_new_tokens=10, max_steps=2, batch_size=4)
    batched = solve(problems, {"qg": hf_generator(model, tok), "qa": hf_generator(model, tok)},
                    config)
    naive_fn = hf_generator(model, tok, naive=True)
    naive = solve(problems, {"qg": naive_fn, "qa": naive_fn}, config)
    assert [p.prediction for p in batched] == [p.prediction for p in naive]
    uncached = solve(problems, {"qg": hf_generator(model, tok), "qa": hf_generator(model, tok)},
                     config.model_copy(update={"prefix_cache": False}))
    assert [p.prediction for p in batched] == [p.prediction for p in uncached]
    assert [p.prompt_tokens for p in batched] == [p.prompt_tokens for p in uncached]


def test_socratic_turns(problems):
    # The decomposer asks two questions then ends; the solver answers `7` each time.
    qg = Scripted(lambda p: " [END]" if p.count("\nA:") >= 2 else f" Sub {p.count('A:')}?")
    qa = Scripted(lambda p: " They have 3+4 = <<3+4=7>>7. #### 7")
    config = make_config(method="socratic", max_steps=5)
    predictions = solve(problems[:3], {"qg": qg, "qa": qa}, config)
    assert [len(call[0]) for call in qg.calls] == [3, 3, 3]
    assert [len(call[0]) for call in qa.calls] == [3, 3]
    assert qa.calls[0][1]["calculator"] and qa.calls[0][1]["stop_at_newline"]
    first = predictions[0]
    assert first.answer == "7"
    assert [s.subquestion for s in first.steps] == ["Sub 0?", "Sub 1?"]
    assert first.prediction.endswith(f"Q: {END_MARKER}\n")
    assert first.prediction.startswith("Q: Sub 0?\nA: They have 3+4 = <<3+4=7>>7. #### 7\n")
    # The solver saw the first step when asked the second subquestion.
    step = Step(subquestion="Sub 0?", solution="They have 3+4 = <<3+4=7>>7.", answer="7")
    assert qa_prompt(problems[0].question, [step], "Sub 1?") in qa.calls[1][0]


def test_problems_leave_when_done_and_max_steps_caps(problems):
    # Problem p0's decomposer ends at once; the others never end.
    qg = Scripted(lambda p: " [END]" if problems[0].question[:30] in p else " More?")
    qa = Scripted(lambda p: " #### 1")
    predictions = solve(problems[:3], {"qg": qg, "qa": qa}, make_config(method="socratic",
                                                                         max_steps=3))
    assert [len(call[0]) for call in qg.calls] == [3, 2, 2]
    assert predictions[0].steps is None and predictions[0].answer is None
    assert [len(p.steps) for p in predictions[1:]] == [3, 3]
    assert not predictions[1].prediction.endswith(f"{END_MARKER}\n")  # capped, not finished


def test_gold_guidance_asks_the_gold_subquestions(problems):
    problems[2] = problems[2].model_copy(update={"gold_steps": None})
    qa = Scripted(lambda p: " #### 5")
    config = make_config(method="socratic", guidance="gold")
    predictions = solve(problems, {"qa": qa}, config)
    for problem, prediction in zip(problems, predictions, strict=True):
        if problem.gold_steps:
            assert [s.subquestion for s in prediction.steps] == [
                s.subquestion for s in problem.gold_steps]
            assert prediction.answer == "5" and prediction.error is None
        else:
            assert "gold_steps" in prediction.error and prediction.answer is None


def test_unified_stops_at_the_end_marker(problems):
    text = " Sub?\nA: 2+2 = <<2+2=4>>4 #### 4\nQ: Two?\nA: 4*2 = <<4*2=8>>8 #### 8\nQ: "
    model = Scripted(lambda p: "Q:" + text, finish="stop")
    predictions = solve(problems[:1], {"model": model}, make_config(method="unified"))
    assert END_MARKER in model.calls[0][1]["stop_strings"]
    assert predictions[0].answer == "8" and len(predictions[0].steps) == 2
    assert predictions[0].prediction.endswith(f"Q: {END_MARKER}")


def test_cot_keeps_through_the_answer_line(problems):
    model = Scripted(lambda p: "3+4 = <<3+4=7>>7\n#### 7\nand then #### 9", finish="eos")
    predictions = solve(problems[:1], {"model": model}, make_config(method="cot"))
    assert predictions[0].prediction == "3+4 = <<3+4=7>>7\n#### 7"
    assert predictions[0].answer == "7"


def test_self_consistency_votes(model, tok, problems):
    fn = hf_generator(model, tok)
    config = make_config(method="socratic", samples=3, temperature=1.0, max_steps=2,
                         max_new_tokens=8)
    predictions = solve(problems[:3], {"qg": fn, "qa": fn}, config)
    for prediction in predictions:
        assert len(prediction.samples) == 3
        assert prediction.answer == majority_vote(prediction.samples)
    # Samples of a problem differ from each other (different seeds).
    texts = solve(problems[:1], {"model": fn}, make_config(
        method="cot", samples=3, temperature=1.0, max_new_tokens=8))
    assert texts[0].samples is not None

    qa = Scripted(lambda p: " #### 4" if "Sub" in p else " #### 5")
    qg_texts = iter([" Sub?", " Other?", " Sub?"] + [" [END]"] * 3)
    qg = Scripted(lambda p: next(qg_texts))
    voted = solve(problems[:1], {"qg": qg, "qa": qa},
                  make_config(method="socratic", samples=3, temperature=0.5))[0]
    assert voted.samples == ["4", "5", "4"] and voted.answer == "4"
    assert voted.steps[0].subquestion == "Sub?"


def test_a_failing_problem_gets_an_error_not_dropped(problems):
    def flaky(prompts, **settings):
        if any("buys 6 more" in p for p in prompts):
            raise RuntimeError("CUDA out of memory")
        return [Generation("#### 3", 5, 2, "eos") for _ in prompts]

    predictions = solve(problems, {"model": flaky}, make_config(method="answer"))
    assert len(predictions) == len(problems)
    failed = [p for p in predictions if p.error]
    assert [p.id for p in failed] == ["p1"] and "out of memory" in failed[0].error
    assert all(p.answer == "3" for p in predictions if not p.error)


def test_a_prompt_too_long_fails_its_problem_only(model, tok, problems, caplog):
    problems[1] = problems[1].model_copy(update={"question": "apples " * 600})
    predictions = solve(problems, {"model": hf_generator(model, tok)},
                        make_config(method="cot", max_new_tokens=4))
    assert "context window" in predictions[1].error
    assert all(p.error is None and p.prediction is not None
               for i, p in enumerate(predictions) if i != 1)
    assert "halving" not in caplog.text  # the batch itself did not fail


def test_invalid_settings_are_user_errors():
    with pytest.raises(UserError, match="temperature"):
        make_config(method="cot", samples=3)
    with pytest.raises(UserError, match="gold"):
        make_config(method="cot", guidance="gold")
    with pytest.raises(UserError, match="`top_p`"):
        make_config(method="cot", top_p=0)
    with pytest.raises(UserError, match="qa"):
        solve([], {"qg": lambda p, **k: []}, make_config(method="socratic"))


def test_naive_reference_is_the_same_decoding(model, tok):
    prompts = ["Tom has 3 apples", "Q:"]
    assert generate_naive(model, tok, prompts, max_new_tokens=5) == [
        generate_naive(model, tok, [p], max_new_tokens=5)[0] for p in prompts]
