"""The turn engine on hand-made student lines: what each turn records, seeds, and the choice."""

from socratic_distill.infer.engine import Dialogue, choose, generate_isolated, turn_seed
from socratic_distill.schemas import Problem


def dialogue(replica=0, question="Ann has 3 apples and buys 4 more. How many now?"):
    return Dialogue(Problem(id="p1", question=question, answer="7"), replica)


def test_a_dialogue_asks_answers_and_ends_on_the_marker():
    d = dialogue()
    assert "Question: Ann has 3 apples" in d.ask_prompt()
    assert d.take_subquestion("How many apples does Ann have now?\nnoise") == \
        "How many apples does Ann have now?"
    assert "How many apples does Ann have now?" in d.solve_prompt()
    step = d.take_solution("She has 3+4 = <<3+4=7>>7 apples. #### 7")
    assert step.answer == "7" and step.subquestion == "How many apples does Ann have now?"
    assert "3+4" in d.ask_prompt() and "3+4" not in d.ask_prompt(include_solutions=False)
    assert d.take_subquestion("[END]") is None and d.done and d.ended
    d.close()
    assert d.answer == "7" and d.text.rstrip().endswith("[END]")


def test_max_steps_stops_without_an_end_and_a_failure_is_kept():
    d = dialogue()
    d.take_subquestion("How many?")
    d.take_solution("7 #### 7", max_steps=1)
    assert d.done and not d.ended
    d.close()
    assert "[END]" not in d.text
    broken = dialogue()
    broken.fail(ValueError("prompt too long"))
    assert broken.done and broken.error == "ValueError: prompt too long"
    assert isinstance(broken.failure, ValueError)


def test_seeds_depend_on_the_seed_problem_sample_and_turn_only():
    assert dialogue(1).seed(5, 2) == dialogue(1).seed(5, 2) == turn_seed(5, "p1", 1, 2)
    seeds = {dialogue(r).seed(s, t) for r in (0, 1) for s in (0, 1) for t in (0, 1)}
    assert len(seeds) == 8


def test_the_choice_is_the_majority_and_its_first_sample_and_skips_failures():
    samples = [dialogue(r) for r in range(5)]
    for d, answer in zip(samples, ["9", "3", "7", "7", "9"], strict=True):
        d.answer = answer
    samples[0].fail("boom")  # its 9 no longer counts: 7 wins over 3 and 9
    choice = choose(samples)
    assert choice.answer == "7" and choice.chosen is samples[2]
    assert choice.samples == ["9", "3", "7", "7", "9"]  # every sample's answer, failed included
    assert choose([samples[0]]).chosen is None
    single = choose([samples[1]])
    assert single.answer == "3" and single.samples is None


def test_a_failing_prompt_fails_alone_found_by_halving():
    from socratic_distill.infer.generate import Generation

    calls = []

    def backend(prompts, seed, **settings):
        if any("bad" in p for p in prompts):
            raise ValueError("too long for the context window")
        return [Generation(f"ok {p} {s}", 1, 1, "eos") for p, s in zip(prompts, seed, strict=True)]

    prompts = [f"p{i}" for i in range(8)]
    prompts[5] = "bad"
    results = generate_isolated(backend, prompts, list(range(8)), on_call=calls.append)
    assert isinstance(results[5], ValueError)
    assert [r.text for i, r in enumerate(results) if i != 5] == \
        [f"ok p{i} {i}" for i in range(8) if i != 5]  # each prompt kept its own seed
    assert calls == [8, 4, 4, 2, 1, 1, 2]  # halving: 7 calls, not 1 + 8 one by one
