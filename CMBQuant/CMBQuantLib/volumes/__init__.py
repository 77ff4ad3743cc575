"""Volume input: image files (NIfTI, NRRD, MHA, DICOM) to arrays and volume nodes, with clear errors; opening a case
folder into a scene."""
