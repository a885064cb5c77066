"""The vLLM backend: the `GenerateFn` signature over `vllm.LLM.generate` (optional extra).

vLLM cannot force tokens into a running sequence, so the calculator runs in rounds: generation
also stops at `=`, `<<` and `####`; a row whose text then opens an annotation or an answer gets
what the calculator writes appended (`calculator_completion`) and, like every row stopped
there, continues from its prompt plus its text (prefix caching makes the re-read cheap) until
it ends or spends its budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from socratic_distill.calculator import ANSWER_MARK, calculator_completion
from socratic_distill.errors import UserError
from socratic_distill.infer.generate import GenerateFn, Generation, truncate_at_stop

INSTALL_HINT = "--backend vllm needs vLLM: pip install 'socratic-distill[vllm]'"


def vllm_generator(path: str | Path, **engine_args) -> GenerateFn:
    """Load the student at `path` into vLLM; return it bound as a `GenerateFn`."""
    try:
        import vllm
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    llm = vllm.LLM(model=str(path), enable_prefix_caching=True, **engine_args)

    def generate(
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop_at_newline: bool = False,
        stop_strings: Sequence[str] = (),
        calculator: bool = False,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | Sequence[int] = 0,
        batch_size: int = 32,  # vLLM schedules its own batches
        prefix_cache=None,  # vLLM caches prefixes itself (enable_prefix_caching)
        prefix_keys=None,
    ) -> list[Generation]:
        seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
        stops = [*stop_strings, *(["\n"] if stop_at_newline else [])]
        calculator_stops = ("=", "<<", ANSWER_MARK) if calculator else ()
        stops += calculator_stops
        texts, used, prompt_tokens = [""] * len(prompts), [0] * len(prompts), [0] * len(prompts)
        ended: list[str | None] = [None] * len(prompts)
        pending = list(range(len(prompts)))
        while pending:
            params = [
                vllm.SamplingParams(
                    temperature=temperature, top_p=top_p, seed=seeds[i], stop=stops,
                    max_tokens=max_new_tokens - used[i], include_stop_str_in_output=True,
                )
                for i in pending
            ]
            outputs = llm.generate([prompts[i] + texts[i] for i in pending], params,
                                   use_tqdm=False)
            again = []
            for i, output in zip(pending, outputs, strict=True):
                completion = output.outputs[0]
                if not used[i]:
                    prompt_tokens[i] = len(output.prompt_token_ids)
                texts[i] += completion.text
                used[i] += len(completion.token_ids)
                if completion.stop_reason in calculator_stops and used[i] < max_new_tokens:
                    texts[i] += calculator_completion(texts[i]) or ""
                    again.append(i)
                elif completion.finish_reason == "length" or used[i] >= max_new_tokens:
                    ended[i] = "length"
                else:  # a stop string, else the end token
                    ended[i] = "stop" if isinstance(completion.stop_reason, str) else "eos"
            pending = again
        results = []
        for i, text in enumerate(texts):
            cut, reason = truncate_at_stop(text, stop_at_newline, stop_strings)
            reason = reason or ended[i] or "length"
            results.append(Generation(cut, prompt_tokens[i], used[i], reason))
        return results

    return generate
