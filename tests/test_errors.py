"""The shared helpers of one-line user errors."""

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from socratic_distill.errors import describe_validation, did_you_mean


def test_did_you_mean_suggests_the_closest_choice_or_nothing():
    assert did_you_mean("sythetic", ["gsm8k", "synthetic", "svamp"]) == " (did you mean `synthetic`?)"
    assert did_you_mean("zzz", ["gsm8k", "synthetic"]) == ""
    assert did_you_mean("openia", {"openai": 1, "gold": 2}) == " (did you mean `openai`?)"  # any iterable


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int
    name: str


def test_describe_validation_names_the_first_field_and_counts_the_rest():
    with pytest.raises(ValidationError) as caught:
        _Settings(steps="many", colour="red")
    assert describe_validation(caught.value) == (
        "`steps`: Input should be a valid integer, unable to parse string as an integer (+2 more)"
    )
    assert describe_validation(caught.value, "train").startswith("`train.steps`: ")
