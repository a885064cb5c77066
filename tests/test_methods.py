"""The method vocabulary: the registry and its type aliases agree, and the plans follow from it."""

from typing import get_args

from socratic_distill.methods import (
    METHODS,
    RUN_METHODS,
    SINGLE_MODEL_METHODS,
    TASK_DESCRIPTIONS,
    TASKS,
    Method,
    RunMethod,
    Task,
    run_method_tasks,
)


def test_the_type_aliases_name_exactly_the_registered_entries():
    assert get_args(Method) == tuple(METHODS)
    assert get_args(RunMethod) == tuple(RUN_METHODS)
    assert get_args(Task) == TASKS == tuple(TASK_DESCRIPTIONS)


def test_every_role_is_played_by_known_tasks():
    for spec in METHODS.values():
        assert spec.roles and spec.max_new_tokens > 0
        for tasks in spec.roles.values():
            assert tasks and set(tasks) <= set(TASKS)


def test_an_experiment_trains_one_student_per_role_and_gold_guidance_drops_the_decomposer():
    assert run_method_tasks("socratic") == ("qg", "qa")
    assert run_method_tasks("socratic-gold") == ("qa",)
    assert run_method_tasks("cot") == ("cot",)


def test_single_model_methods_are_solved_by_a_student_of_their_own_name():
    assert SINGLE_MODEL_METHODS == ("answer", "cot", "unified")
    for method in SINGLE_MODEL_METHODS:
        assert METHODS[method].roles == {"model": (method,)}
