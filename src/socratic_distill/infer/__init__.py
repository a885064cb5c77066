"""Inference: batched decoding (`generate`), the four solving methods (`solvers`), and
`solve_to_file`, the resumable, data-parallel driver behind `socratic-distill solve`."""
