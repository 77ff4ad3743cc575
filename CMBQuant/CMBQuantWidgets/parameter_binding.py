"""The panel's widgets <-> the parameter pack <-> the scene's parameter node and the machine settings.

Like Slicer's SegmentStatistics: the GUI writes the parameter node when the reader acts, and the GUI is filled from
the node (with this computer's last model and device wherever the scene has none) when the module opens.
"""
from __future__ import annotations

from typing import Any

from CMBQuantLib.pipeline.machine_settings import MachineSettings
from CMBQuantLib.pipeline.parameters import CMBQuantParameters, read_parameters, write_parameters


class ParameterBinding:
    def __init__(self, ui: Any, node: Any, settings: MachineSettings):
        self.ui, self.node, self.settings = ui, node, settings

    def read_gui(self) -> CMBQuantParameters:
        u = self.ui
        return CMBQuantParameters(
            model=u.modelComboBox.currentData or "", device=u.deviceComboBox.currentText,
            step_size=float(u.stepSizeSpinBox.value), mirroring=bool(u.mirroringCheckBox.checked),
            threshold=float(u.thresholdSpinBox.value), filter=u.filterComboBox.currentText,
            filter_threshold=float(u.filterThresholdSpinBox.value), reviewer=u.reviewerLineEdit.text.strip(),
            fov_mm=float(u.fovSpinBox.value), show_filtered=bool(u.showFilteredCheckBox.checked),
            hide_rejected=bool(u.hideRejectedCheckBox.checked), output_folder=u.outputPathLineEdit.currentPath,
            match_distance_mm=float(u.distanceSpinBox.value))

    def show(self) -> CMBQuantParameters:
        """Fill the GUI from the node (missing values: machine settings, then panel defaults)."""
        p = read_parameters(self.node, self.settings.defaults())
        u = self.ui
        index = u.modelComboBox.findData(p.model)
        if index is not None and index >= 0:
            u.modelComboBox.setCurrentIndex(index)
        for combo, text in ((u.deviceComboBox, p.device), (u.filterComboBox, p.filter)):
            combo.setCurrentText(text)
        u.stepSizeSpinBox.value, u.thresholdSpinBox.value = p.step_size, p.threshold
        u.filterThresholdSpinBox.value, u.fovSpinBox.value = p.filter_threshold, p.fov_mm
        u.distanceSpinBox.value = p.match_distance_mm
        u.mirroringCheckBox.checked, u.hideRejectedCheckBox.checked = p.mirroring, p.hide_rejected
        u.showFilteredCheckBox.checked = p.show_filtered
        u.reviewerLineEdit.text, u.outputPathLineEdit.currentPath = p.reviewer, p.output_folder
        return p

    def save(self) -> CMBQuantParameters:
        p = self.read_gui()
        write_parameters(self.node, p)
        self.settings.remember(p)
        return p
