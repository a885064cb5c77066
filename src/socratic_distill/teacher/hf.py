"""`hf:MODEL_OR_PATH`: a local transformers model as the teacher, generating in batches.

Prompts are left-padded and go through one `model.generate` call per batch (`batch_size`), in
a worker thread so the event loop keeps writing results. With `api: chat` and a tokenizer that
has a chat template the messages are templated; otherwise the plain few-shot text is used.
Completions are cut at the prompt's stop strings. Sampling is seeded per batch from `seed`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.teacher.backends import Completion, Request, Teacher, register_teacher
from socratic_distill.teacher.config import AnnotateConfig


@dataclass
class HFTeacher:
    name: str
    model_name: str
    config: AnnotateConfig
    paid: bool = True  # costs compute: cached, and counted by `max_requests`
    batch_size: int = 8
    identity: dict[str, Any] = field(default_factory=dict)
    _loaded: tuple[Any, Any] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def complete(self, requests: Sequence[Request]) -> list[Completion]:
        return await asyncio.to_thread(self._generate, list(requests))

    async def aclose(self) -> None:
        self._loaded = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_name)
                model = AutoModelForCausalLM.from_pretrained(self.model_name)
            except (OSError, ValueError) as error:
                raise UserError(f"teacher `hf:{self.model_name}`: cannot load the model "
                                f"({str(error).splitlines()[0][:200]})") from None
            tokenizer.padding_side = "left"
            tokenizer.truncation_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            device = "cuda" if torch.cuda.is_available() else "cpu"
            self._loaded = (tokenizer, model.to(device).eval())
        return self._loaded

    def _text(self, tokenizer: Any, request: Request) -> str:
        if self.config.api == "chat" and getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(
                request.prompt.chat(), tokenize=False, add_generation_prompt=True)
        return request.prompt.text()

    def _generate(self, requests: list[Request]) -> list[Completion]:
        import torch
        from transformers import set_seed

        with self._lock:
            tokenizer, model = self._load()
            texts = [self._text(tokenizer, request) for request in requests]
            limit = getattr(model.config, "max_position_embeddings", None) or 4096
            encoded = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                max_length=max(1, limit - self.config.max_tokens))
            encoded = {key: value.to(model.device) for key, value in encoded.items()}
            sampling: dict[str, Any] = {"do_sample": False}
            if self.config.temperature:
                sampling = {"do_sample": True, "temperature": self.config.temperature}
            set_seed((self.config.seed or 0) + requests[0].sample)
            with torch.no_grad():
                output = model.generate(**encoded, max_new_tokens=self.config.max_tokens,
                                        pad_token_id=tokenizer.pad_token_id, **sampling)
        new_tokens = output[:, encoded["input_ids"].shape[1]:]
        prompt_lengths = encoded["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, request, prompt_tokens in zip(new_tokens, requests, prompt_lengths, strict=True):
            ids = row.tolist()
            if tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            text = _cut(tokenizer.decode(ids, skip_special_tokens=True), request.prompt.stop)
            usage = {"prompt_tokens": int(prompt_tokens), "completion_tokens": len(ids)}
            results.append(Completion(text, usage))
        return results


def _cut(text: str, stops: Sequence[str]) -> str:
    cuts = [text.index(stop) for stop in stops if stop in text]
    return text[: min(cuts)] if cuts else text


@register_teacher("hf", "MODEL_OR_PATH", "a local transformers model, batched")
def _hf(model_name: str, config: AnnotateConfig) -> Teacher:
    identity = {"teacher": f"hf:{model_name}", "api": config.api,
                "temperature": config.temperature, "max_tokens": config.max_tokens,
                "seed": config.seed}
    return HFTeacher(f"hf:{model_name}", model_name, config, batch_size=config.batch_size,
                     identity=identity)
