"""The canonical expression label set every dataset is mapped onto.

The order is FER2013's (0=angry ... 6=neutral) because most of the reproduced papers train on
FER2013 and report confusion matrices in that order; contempt (present in CK+, AffectNet, FER+)
is appended as index 7 and is only used when a config asks for it.
"""

from __future__ import annotations

BASIC7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
WITH_CONTEMPT: tuple[str, ...] = BASIC7 + ("contempt",)
# Ekman's six basic emotions (several papers' "6 basic expressions"): basic7 without neutral.
BASIC6: tuple[str, ...] = BASIC7[:-1]
ALL_LABELS = frozenset(WITH_CONTEMPT)
NAMED_SETS = {"basic7": BASIC7, "basic7+contempt": WITH_CONTEMPT, "basic6": BASIC6}
# Decoding keeps every label a dataset has (CK+'s contempt included); each run's label set then selects
# its classes and counts the samples it leaves out.
DECODE_LABEL_SET = "basic7+contempt"


def label_set(name) -> tuple[str, ...]:
    """The ordered class list of a config's ``label_set``: a name (basic7, basic7+contempt, basic6) or
    the classes themselves (e.g. ``[happy, sad]`` for a two-class experiment), kept in canonical order
    so that confusion matrices of different runs line up."""
    if isinstance(name, (list, tuple)):
        unknown = sorted(set(name) - ALL_LABELS)
        if unknown or len(set(name)) < 2:
            raise ValueError(
                f"label set {list(name)}: needs at least two distinct canonical labels "
                f"({sorted(ALL_LABELS)}); unknown: {unknown}"
            )
        return tuple(c for c in WITH_CONTEMPT if c in set(name))
    try:
        return NAMED_SETS[name]
    except KeyError:
        raise ValueError(
            f"unknown label set {name!r}; expected one of {sorted(NAMED_SETS)} or a list of labels"
        ) from None


def encode(labels, classes: tuple[str, ...]):
    """Map label names to integer indices of `classes`, failing loudly on anything unknown."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(label) for label in labels} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the class list {list(classes)}")
    return np.array([index[label] for label in labels], dtype=np.int64)
