"""nnU-Net trainer with a CPU budget: short epochs, no end-of-training validation export, no architecture plot.

Imported directly (never looked up by name), because nnU-Net's name lookup imports timm/torchvision.
"""
from __future__ import annotations

import time

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class CMBQuantDemoTrainer(nnUNetTrainer):
    """Same network as ``nnUNetTrainer``; only the schedule differs, so checkpoints may say 'nnUNetTrainer'."""

    def __init__(self, plans: dict, configuration: str, fold, dataset_json: dict,
                 device: torch.device | None = None):
        super().__init__(plans, configuration, fold, dataset_json, device or torch.device("cpu"))
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 2
        self.num_epochs = 40
        self.save_every = 10
        self.time_budget_s: float | None = None

    def set_budget(self, iterations: int, seconds: float | None = None) -> None:
        """An iteration budget, or a wall-clock one: after the first epoch the epoch count (and the poly learning
        rate schedule with it) is fitted to ``seconds`` on this machine, so a busy CPU trains fewer iterations
        rather than overrunning."""
        self.num_epochs = max(1, iterations // self.num_iterations_per_epoch)
        self.time_budget_s = seconds

    def run_training(self) -> None:
        self.on_train_start()
        t0 = time.time()
        epoch = self.current_epoch
        while epoch < self.num_epochs:
            self.on_epoch_start()
            self.on_train_epoch_start()
            outs = [self.train_step(next(self.dataloader_train)) for _ in range(self.num_iterations_per_epoch)]
            self.on_train_epoch_end(outs)
            with torch.no_grad():
                self.on_validation_epoch_start()
                vals = [self.validation_step(next(self.dataloader_val)) for _ in range(self.num_val_iterations_per_epoch)]
                self.on_validation_epoch_end(vals)
            self.on_epoch_end()
            epoch += 1
            if self.time_budget_s and epoch == 2:  # epoch 0 includes start-up costs; fit on the mean of two
                per_epoch = (time.time() - t0) / 2
                fitted = max(epoch + 1, int(self.time_budget_s / per_epoch))
                self.num_epochs = min(self.num_epochs, fitted)
                self.lr_scheduler.max_steps = self.num_epochs
                self.print_to_log_file(f"time budget {self.time_budget_s:.0f} s: {per_epoch:.1f} s/epoch -> "
                                       f"{self.num_epochs} epochs ({self.num_epochs * self.num_iterations_per_epoch} "
                                       f"iterations)", also_print_to_console=True)
        self.on_train_end()

    def plot_network_architecture(self) -> None:  # needs hiddenlayer/graphviz; not useful here
        return None

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:  # held-out eval is separate
        return None
