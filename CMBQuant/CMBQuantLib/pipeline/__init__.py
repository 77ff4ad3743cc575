"""The pipeline: ``process_case`` orchestrates the stages into one case folder; ``batch`` and ``run`` drive it over many
inputs; the worker runs it in a subprocess with JSON progress."""
