"""Teacher annotation (issue 5): a large model decomposes problems; checked samples are kept.

The CLI calls `annotate(problems, make_config(...), out)` and prints `Summary.format()`.
"""

from socratic_distill.teacher.annotate import annotate
from socratic_distill.teacher.config import AnnotateConfig, Prices, make_config
from socratic_distill.teacher.summary import Summary

__all__ = ["AnnotateConfig", "Prices", "Summary", "annotate", "make_config"]
