"""The canonical expression label set every dataset is mapped onto.

The order is FER2013's (0=angry ... 6=neutral) because most of the reproduced papers train on
FER2013 and report confusion matrices in that order; contempt (present in CK+, AffectNet, FER+)
is appended as index 7 and is only used when a config asks for it.
"""

from __future__ import annotations

BASIC7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
WITH_CONTEMPT: tuple[str, ...] = BASIC7 + ("contempt",)
ALL_LABELS = frozenset(WITH_CONTEMPT)


def label_set(name: str) -> tuple[str, ...]:
    """Return the ordered class list for a label-set name used in configs."""
    sets = {"basic7": BASIC7, "basic7+contempt": WITH_CONTEMPT}
    try:
        return sets[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; expected one of {sorted(sets)}") from None


def encode(labels, classes: tuple[str, ...]):
    """Map label names to integer indices of `classes`, failing loudly on anything unknown."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(l) for l in labels} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the class list {list(classes)}")
    return np.array([index[l] for l in labels], dtype=np.int64)
