"""Datasets: the standard decoded format, decoders, the synthetic generator, splits and audits."""
