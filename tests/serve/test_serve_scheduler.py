"""The continuous-batching scheduler without HTTP: who is in which generate call, and when."""

from __future__ import annotations

import threading
import time

import pytest
from serve_helpers import Gate, Slow, make_problems, make_steered

from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import hf_generator
from socratic_distill.serve.config import ServeConfig
from socratic_distill.serve.scheduler import CompleteSpec, Job, QueueFull, Scheduler, SolveSpec

QUESTIONS = [p.question for p in make_problems(6)]


class Collect:
    """A job's listener: keeps its events, and says when it is finished."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []
        self.done = threading.Event()

    def __call__(self, kind, data):
        self.events.append((kind, data))
        if kind in ("final", "error"):
            self.done.set()


def solve_job(question: str, max_steps: int = 2, samples: int = 1, timeout: float = 30) -> Job:
    config = make_config(method="socratic", max_steps=max_steps, max_new_tokens=4,
                         samples=samples, temperature=0.7 if samples > 1 else 0.0)
    return Job(SolveSpec(question, None, "number", config), Collect(), timeout)


@pytest.fixture
def students(tok):
    return (Slow(hf_generator(make_steered(tok, 1), tok)),
            Slow(hf_generator(make_steered(tok, 2), tok)))


def run(scheduler: Scheduler, jobs: list[Job]) -> None:
    scheduler.start()
    try:
        for job in jobs:
            assert job.listener.done.wait(30), "job not finished"
    finally:
        scheduler.stop()


def test_concurrent_requests_share_each_generate_call(students):
    qg, qa = students
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig())
    jobs = [solve_job(q, max_steps=3) for q in QUESTIONS[:4]]
    jobs.append(solve_job(QUESTIONS[4], max_steps=3, samples=2))  # sampled: its own call
    for job in jobs:
        scheduler.submit(job)
    run(scheduler, jobs)
    assert qg.calls == [4, 2] * 3 and qa.calls == [4, 2] * 3  # 3 turns, one call per settings
    assert all(job.listener.events[-1][0] == "final" for job in jobs)


def test_batching_off_serves_one_request_at_a_time(students):
    qg, qa = students
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig(batching=False))
    jobs = [solve_job(q, max_steps=2) for q in QUESTIONS[:3]]
    for job in jobs:
        scheduler.submit(job)
    run(scheduler, jobs)
    assert qg.calls == [1] * 6 and qa.calls == [1] * 6


def test_new_requests_join_at_the_next_step_boundary(tok):
    qg = Gate(hf_generator(make_steered(tok, 1), tok))
    qa = Slow(hf_generator(make_steered(tok, 2), tok))
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig())
    first, second = solve_job(QUESTIONS[0], max_steps=3), solve_job(QUESTIONS[1], max_steps=2)
    scheduler.submit(first)
    scheduler.start()
    try:
        assert qg.entered.wait(10)  # the first request's first turn is running
        scheduler.submit(second)
        qg.open.set()
        assert first.listener.done.wait(30) and second.listener.done.wait(30)
    finally:
        scheduler.stop()
    # Turn 1: the first alone; turns 2 and 3: both; both end at turn 3 (3 and 2 steps).
    assert qg.calls == [1, 2, 2] and qa.calls == [1, 2, 2]
    assert [k for k, _ in second.listener.events].count("solution") == 2


def test_rows_cap_the_batch_and_the_queue_is_bounded(students):
    qg, qa = students
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig(max_batch_rows=3, max_samples=2,
                                                            queue_size=4))
    jobs = [solve_job(q, max_steps=1) for q in QUESTIONS[:4]]
    for job in jobs:
        scheduler.submit(job)
    with pytest.raises(QueueFull) as refused:
        scheduler.submit(solve_job(QUESTIONS[5]))
    assert refused.value.retry_after == 1
    run(scheduler, jobs)
    assert qg.calls == [3, 1]


def test_a_failing_prompt_fails_its_own_request_only(tok):
    real = hf_generator(make_steered(tok, 2), tok)

    def fragile(prompts, **settings):
        if any("BOOM" in prompt for prompt in prompts):
            raise RuntimeError("the solver broke")
        return real(prompts, **settings)

    scheduler = Scheduler({"qg": hf_generator(make_steered(tok, 1), tok), "qa": fragile},
                          ServeConfig())
    good, bad = solve_job(QUESTIONS[0]), solve_job("BOOM " + QUESTIONS[1])
    for job in (good, bad):
        scheduler.submit(job)
    run(scheduler, [good, bad])
    assert good.listener.events[-1][0] == "final"
    kind, error = bad.listener.events[-1]
    assert kind == "error" and error["status"] == 500 and "the solver broke" in error["message"]


def test_completions_and_dialogues_in_one_batch(tok, students):
    qg, qa = students
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig())
    completion = Job(CompleteSpec("qa", ("Question: 1 + 1?\nA:",), 2, 5, 0.0, 1.0, (), 0),
                     Collect(), 30)
    dialogue = solve_job(QUESTIONS[0], max_steps=2)
    for job in (completion, dialogue):
        scheduler.submit(job)
    run(scheduler, [completion, dialogue])
    kind, final = completion.listener.events[-1]
    assert kind == "final" and len(final["choices"]) == 2
    assert final["usage"]["completion"] == 10  # 2 choices x 5 tokens (letters only, no end)
    assert qa.calls[0] == 2  # the completion's call, before the dialogue's solver call


def test_cancel_and_deadline(students):
    qg, qa = students
    qa.delay = 0.05
    scheduler = Scheduler({"qg": qg, "qa": qa}, ServeConfig())
    long_job, late = solve_job(QUESTIONS[0], max_steps=16), solve_job(QUESTIONS[1], 16, timeout=0.2)
    for job in (long_job, late):
        scheduler.submit(job)
    scheduler.start()
    try:
        time.sleep(0.3)
        scheduler.cancel(long_job)
        assert late.listener.done.wait(10)
        deadline = time.monotonic() + 10
        while scheduler.load() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.load() == (0, 0)
    finally:
        scheduler.stop()
    assert late.listener.events[-1][1]["status"] == 504
    assert not long_job.listener.done.is_set()  # a cancelled job says nothing more
    assert len(qa.calls) < 16


def test_the_whole_batch_is_decoded_together_unless_told(tok):
    """The scheduler asks the backend to decode its whole batch in one chunk (generate
    prefills prompts of unlike lengths apart), or in chunks of `decode_batch_size`."""
    real, seen = hf_generator(make_steered(tok, 1), tok), []

    def recording(prompts, **settings):
        seen.append(settings["batch_size"])
        return real(prompts, **settings)

    scheduler = Scheduler({"qg": recording, "qa": recording}, ServeConfig())
    assert scheduler.decode_batch_size == ServeConfig().max_batch_rows
    job = solve_job(QUESTIONS[0], max_steps=1)
    scheduler.submit(job)
    run(scheduler, [job])
    assert seen == [scheduler.decode_batch_size] * 2
    assert Scheduler({}, ServeConfig(decode_batch_size=3)).decode_batch_size == 3


@pytest.mark.parametrize("admit_wait", [0.0, 1.0])
def test_a_request_sent_on_an_answer_joins_the_coming_turn(tok, admit_wait):
    """A client that answers with a new request a moment later: with the admission wait, the
    new request takes the freed place in the very next turn; without it, it misses that turn."""
    qg = Slow(hf_generator(make_steered(tok, 1), tok))
    qa = Slow(hf_generator(make_steered(tok, 2), tok), delay=0.6)  # turns of 0.6 s: waits <= 60 ms
    config = ServeConfig(admit_wait=admit_wait, max_batch_rows=2, max_samples=1)
    scheduler = Scheduler({"qg": qg, "qa": qa}, config)
    short, long = solve_job(QUESTIONS[0], max_steps=1), solve_job(QUESTIONS[1], max_steps=2)
    follow = solve_job(QUESTIONS[2], max_steps=1)
    listener = short.listener

    def answer_then_send(kind, data):
        listener(kind, data)
        if kind == "final":
            threading.Timer(0.02, scheduler.submit, [follow]).start()

    short.listener = answer_then_send
    for job in (short, long):
        scheduler.submit(job)
    scheduler.start()
    try:
        assert long.listener.done.wait(30) and follow.listener.done.wait(30)
    finally:
        scheduler.stop()
    if admit_wait:
        assert qg.calls[:2] == [2, 2]  # the follow-up took the short one's place at once
    else:
        assert qg.calls[:2] == [2, 1]
