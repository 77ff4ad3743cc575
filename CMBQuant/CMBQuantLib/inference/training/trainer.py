"""nnU-Net trainer with a CPU budget: short epochs, no end-of-training validation export, no architecture plot.

Imported directly (never looked up by name), because nnU-Net's name lookup imports timm/torchvision.
"""
from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class CMBQuantDemoTrainer(nnUNetTrainer):
    """Same network as ``nnUNetTrainer``; only the schedule differs, so checkpoints may say 'nnUNetTrainer'."""

    def __init__(self, plans: dict, configuration: str, fold, dataset_json: dict,
                 device: torch.device = torch.device("cpu")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = 50
        self.num_val_iterations_per_epoch = 2
        self.num_epochs = 40
        self.save_every = 10

    def set_budget(self, iterations: int) -> None:
        self.num_epochs = max(1, iterations // self.num_iterations_per_epoch)

    def plot_network_architecture(self) -> None:  # needs hiddenlayer/graphviz; not useful here
        return None

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:  # held-out eval is separate
        return None
