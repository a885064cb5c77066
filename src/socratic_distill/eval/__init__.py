"""Answer extraction, metrics and reports."""
