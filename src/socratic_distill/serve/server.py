"""`serve`: load trained students and answer HTTP on loopback.

    socratic-distill serve --qg students/qg --qa students/qa [--host 127.0.0.1] [--port 8000]
    socratic-distill serve --model students/unified --api-key-env SERVE_KEY

`load_app` checks and loads the students (`load_generators`: task and format version) and
builds the app; `serve` runs it on uvicorn. The server binds to loopback unless told otherwise;
the optional API key is read from the environment variable that `api_key_env` names, compared in
constant time, and never logged.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.methods import SINGLE_MODEL_METHODS
from socratic_distill.serve.config import ServeConfig

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_key(api_key_env: str | None) -> str | None:
    """The key held by the variable `api_key_env` names; None without one."""
    if not api_key_env:
        return None
    value = os.environ.get(api_key_env, "").strip()
    if not value:
        raise UserError(f"--api-key-env: ${api_key_env} is not set or empty; export the key "
                        "in it first (or drop --api-key-env to serve without a key)")
    return value


def load_app(
    *,
    qg: str | Path | None = None,
    qa: str | Path | None = None,
    model: str | Path | None = None,
    api_key_env: str | None = None,
    backend: str = "hf",
    config: ServeConfig | None = None,
    verifier: str | Path | None = None,
) -> Any:
    """The FastAPI app serving the given students: socratic with `qg` and `qa`, and/or the
    method that a `model` student was trained for (answer, cot or unified); a `verifier`
    ranks the samples of requests that ask for several."""
    from socratic_distill.infer.run import load_generators
    from socratic_distill.serve.app import create_app
    from socratic_distill.train.outdir import read_student_file

    if (qg is None) != (qa is None):
        raise UserError("socratic serving needs both --qg DIR (decomposer) and --qa DIR (solver)")
    if qg is None and model is None:
        raise UserError("serve needs --model DIR, or --qg DIR and --qa DIR")
    api_key = read_api_key(api_key_env)
    if verifier is not None:
        from socratic_distill.infer.verifier import check_verifier

        check_verifier(verifier)  # before the students load: a wrong directory fails fast
    generators, methods, named = {}, [], []
    if qg is not None:
        generators.update(load_generators("socratic", {"qg": qg, "qa": qa}, backend=backend))
        methods.append("socratic")
        named += [(Path(qg).name, "qg"), (Path(qa).name, "qa")]
    if model is not None:
        task = read_student_file(model, "--model").get("task")
        if task not in SINGLE_MODEL_METHODS:  # each is solved by a student of its own name
            raise UserError(f"--model: {model} is a `{task}` student; --model serves an answer, "
                            "cot or unified student (a decomposer and a solver go to --qg/--qa)")
        generators.update(load_generators(task, {"model": model}, backend=backend))
        methods.append(task)
        named.append((Path(model).name, "model"))
    # Directory names also name their students on the OpenAI-style endpoints, unless ambiguous.
    counts = Counter(name for name, _ in named)
    names = {name: role for name, role in named
             if counts[name] == 1 and name not in ("qg", "qa", "model")}
    scorer = None
    if verifier is not None:
        from socratic_distill.infer.verifier import load_scorer

        scorer = load_scorer(verifier)
    return create_app(generators, config, methods=methods, model_names=names, api_key=api_key,
                      scorer=scorer)


def serve(
    *,
    qg: str | Path | None = None,
    qa: str | Path | None = None,
    model: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key_env: str | None = None,
    backend: str = "hf",
    config: ServeConfig | None = None,
    verifier: str | Path | None = None,
) -> None:
    """Serve the students until interrupted (Ctrl-C). See `socratic_distill.serve.app`."""
    import uvicorn

    app = load_app(qg=qg, qa=qa, model=model, api_key_env=api_key_env, backend=backend,
                   config=config, verifier=verifier)
    state = app.state.serve
    if not is_loopback(host) and state.api_key is None:
        log.warning("serving on %s without an API key: anyone who can reach this address can "
                    "use the students (set --api-key-env)", host)
    log.info("serving %s on http://%s:%d (batching %s, %d rows, queue %d, timeout %gs%s)",
             ", ".join(state.methods) or "completions", host, port,
             "on" if state.config.batching else "off", state.config.max_batch_rows,
             state.config.queue_size, state.config.timeout, ", API key required" if
             state.api_key else "")
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
