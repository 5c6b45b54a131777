"""UTKFace: ``<age>_<gender>_<race>_<date&time>.jpg``. It has age, gender and ethnicity labels and
*no expression labels*, so it cannot be decoded for expression recognition. Any attempt stops
with ``NoExpressionLabelsError``; a paper's expression-recognition claims on UTKFace are
therefore reported as untestable rather than approximated with invented labels.
"""

from __future__ import annotations

from pathlib import Path

from ferrepro.data.decoders import register_decoder
from ferrepro.data.decoders.common import DecodeContext, Decoded, NoExpressionLabelsError
from ferrepro.data.registry import LayoutSpec

REASON = (
    "UTKFace has age, gender and ethnicity labels only (file names <age>_<gender>_<race>_<date>.jpg) and no "
    "expression labels: it cannot be decoded for expression recognition, and claims of expression accuracy on "
    "UTKFace are untestable."
)


def detect(root: Path, layout: LayoutSpec) -> bool:
    return False


@register_decoder("utkface", detect=detect)
def decode(ctx: DecodeContext) -> Decoded:
    raise NoExpressionLabelsError(f"{ctx.spec.name}: {ctx.spec.no_labels_reason or REASON}")
