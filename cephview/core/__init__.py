"""Qt-free, torch-free core: radiographs, calibration, schemas, annotations, store, CSV, datasets."""
