"""Evaluation: per-run metrics and figures, statistics over runs, efficiency and robustness."""
