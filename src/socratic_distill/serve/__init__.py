"""Serving trained students over HTTP (issue 7): an API, streaming, continuous batching, a page.

    from socratic_distill.serve import serve
    serve(qg="students/qg", qa="students/qa", port=8000)

`create_app(generators, ServeConfig(...))` builds the app from backends already loaded (tests,
benchmarks); `serve` loads students from their directories and runs uvicorn. Heavy imports
(torch, fastapi) happen inside, so importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

from socratic_distill.serve.config import ServeConfig, make_serve_config
from socratic_distill.serve.server import load_app, serve

__all__ = ["ServeConfig", "create_app", "load_app", "make_serve_config", "serve"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """`socratic_distill.serve.app.create_app` (imported on first use)."""
    from socratic_distill.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)
