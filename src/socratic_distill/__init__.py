"""socratic-distill."""
