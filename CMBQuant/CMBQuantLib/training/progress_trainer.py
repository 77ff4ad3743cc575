"""The demo trainer's loop (fixed epochs x iterations, no end-of-training export) reporting after every epoch.

A module of its own so that the training worker imports torch / nnU-Net only when it trains: nnU-Net's fingerprint
step spawns a process that re-imports the worker's main module, and a light one saves that process ~10 s.
"""
from __future__ import annotations

import time
from typing import Callable

from CMBQuantLib.training.trainer import CMBQuantDemoTrainer

EpochFn = Callable[[int, int, float, float], None]  # (epochs done, epochs, seconds so far, last train loss)


class ReviewedCasesTrainer(CMBQuantDemoTrainer):
    """Same network and schedule as the demo trainer; ``on_epoch`` is called after each epoch."""

    on_epoch: EpochFn | None = None

    def on_train_start(self) -> None:
        super().on_train_start()
        self.logger.plot_progress_png = lambda *_: None  # a matplotlib figure per epoch: ~1 s on a CPU, unused
        self._t0 = time.time()

    def on_epoch_end(self) -> None:
        super().on_epoch_end()
        if self.on_epoch is not None:
            loss = float(self.logger.get_value("train_losses", step=-1))
            self.on_epoch(self.current_epoch, self.num_epochs, time.time() - self._t0, loss)
