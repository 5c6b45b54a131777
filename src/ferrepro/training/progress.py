"""Training progress for logs and terminals: one line per epoch, and Lightning's bar only when interactive.

A train log (``results/logs/train/...``) gets one line per finished epoch, e.g.::

    ferrepro train: epoch 3/150  train loss 1.7421 acc 0.312  val loss 1.6980 acc 0.355  lr 1.00e-03  12.4 s  ETA 30m31s

so a 150-epoch run shows that it is moving, how fast, and when it will end (the ETA assumes the remaining
epochs take the mean time of those run so far; early stopping may end it sooner). The line is printed on
stdout, flushed, and only by the rank-0 process. Lightning's progress bar is shown only when stderr is a
terminal (``show_progress_bar``): in a log file its carriage-return updates become thousands of lines.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings

import lightning as L

PREFIX = "ferrepro train:"


def show_progress_bar(stream=None) -> bool:
    """Whether a run is interactive: Lightning's bar goes to stderr, so ask whether that is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_duration(seconds: float) -> str:
    """Compact h/m/s: 42s, 5m03s, 2h07m."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _metric(metrics: dict, name: str) -> float | None:
    value = metrics.get(name)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _pair(metrics: dict, stage: str) -> str:
    loss, acc = _metric(metrics, f"{stage}_loss"), _metric(metrics, f"{stage}_acc")
    loss_text = "n/a" if loss is None else f"{loss:.4f}"
    acc_text = "n/a" if acc is None else f"{acc:.3f}"
    return f"{stage} loss {loss_text} acc {acc_text}"


def epoch_line(
    epoch: int, max_epochs: int, metrics: dict, lr: float | None, seconds: float, mean_seconds: float
) -> str:
    """The log line of a finished epoch; ``epoch`` counts from 1, as ``epochs_run`` does."""
    remaining = max(0, max_epochs - epoch)
    lr_text = "n/a" if lr is None else f"{lr:.2e}"
    return (
        f"{PREFIX} epoch {epoch}/{max_epochs}  {_pair(metrics, 'train')}  {_pair(metrics, 'val')}  "
        f"lr {lr_text}  {seconds:.1f} s  ETA {format_duration(remaining * mean_seconds)}"
    )


class EpochProgress(L.Callback):
    """Print ``epoch_line`` after every validation epoch (train and val metrics of the epoch are then known)."""

    def __init__(self, stream=None):
        self.stream = stream
        self._epoch_start: float | None = None
        self._seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # With validation every epoch, Lightning runs the validation loop before this hook, so
        # callback_metrics hold both the train and the val metrics of this epoch.
        if self._epoch_start is None or not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._epoch_start
        self._epoch_start = None
        self._seconds.append(seconds)
        line = epoch_line(
            trainer.current_epoch + 1,
            trainer.max_epochs,
            trainer.callback_metrics,
            _learning_rate(trainer),
            seconds,
            sum(self._seconds) / len(self._seconds),
        )
        print(line, file=self.stream or sys.stdout, flush=True)


def _learning_rate(trainer) -> float | None:
    """The first parameter group's learning rate, as the optimiser will use it next."""
    if not trainer.optimizers:
        return None
    groups = trainer.optimizers[0].param_groups
    return float(groups[0]["lr"]) if groups else None


LOG_DIR = "lightning_logs"  # in the run folder: Lightning's own logger output, kept after training


def extra_loggers(save_dir, name: str = "log", version: int = 0) -> list:
    """TensorBoard beside the CSV logger when the optional ``tensorboard`` extra is installed, else nothing.

    ``pip install -e '.[tensorboard]'``, then ``tensorboard --logdir results/runs``.
    """
    from lightning.pytorch.loggers import TensorBoardLogger

    try:
        return [TensorBoardLogger(save_dir=save_dir, name=name, version=version, default_hp_metric=False)]
    except ModuleNotFoundError:  # Lightning's own message: neither tensorboard nor tensorboardX is installed
        return []


class _DropLightningTips(logging.Filter):
    """Lightning's advertisement for its cloud logger ("💡 Tip: ... litlogger"), printed by every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip:")


_TIP_FILTER = _DropLightningTips()


def quiet_lightning() -> None:
    """Silence the messages every run repeats and no one can act on; each filter is as narrow as possible.

    - Lightning's "💡 Tip" advertisements (an info record of its rank-zero logger);
    - torch >= 2.14 deprecates ``LeafSpec``, which lightning 2.6's own ``utilities/_pytree.py`` still builds
      (a ``FutureWarning`` about Lightning's code, not ours; it goes away with a Lightning that uses
      ``treespec_leaf``). Only that message from that module is ignored.
    The third repeated warning (``on_after_batch_transfer`` overridden with a datamodule) is fixed at its
    source in ``training.module``. Idempotent.
    """
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _TIP_FILTER not in rank_zero.filters:
        rank_zero.addFilter(_TIP_FILTER)
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )
