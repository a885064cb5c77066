"""Solve 9 tiny problems into argv[1]; run alone or under torchrun (see test_infer_run.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from infer_helpers import make_model, make_problems, make_tokenizer  # noqa: E402

from socratic_distill.infer.config import make_config  # noqa: E402
from socratic_distill.infer.generate import hf_generator  # noqa: E402
from socratic_distill.infer.run import solve_to_file  # noqa: E402

tokenizer = make_tokenizer()
model = make_model(tokenizer)
fn = hf_generator(model, tokenizer)
config = make_config(method="socratic", max_steps=2, max_new_tokens=8, batch_size=4)
solve_to_file(make_problems(9), sys.argv[1], {"qg": fn, "qa": fn}, config, chunk_size=2,
              progress=False)
