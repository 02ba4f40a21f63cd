"""Cephalometric measurements, analyses and norms: numpy-free, Qt-free, torch-free.

Analyses (``resources/analyses/*.json``) and norms (``resources/norms/*.json``) are data;
this package interprets them. Entry points:

- :func:`compute_measurements` — values, norm comparison and interpretation for an annotation;
- :func:`write_measurements_csv` — export;
- :func:`tracing_primitives` — geometry for the viewer's overlay;
- :func:`available_analyses`, :func:`available_norm_sets`, :func:`load_norm_set`.
"""

from cephview.analysis.definitions import (
    CANONICAL_SCHEMA,
    AnalysisDef,
    MeasurementDef,
    available_analyses,
    get_analysis,
    load_analyses,
)
from cephview.analysis.engine import MeasurementResult, compute_measurements
from cephview.analysis.export import CSV_HEADER, write_measurements_csv
from cephview.analysis.formulas import FormulaError
from cephview.analysis.norms import (
    DEFAULT_NORM_SET,
    NormFileError,
    NormRow,
    NormSet,
    available_norm_sets,
    load_norm_set,
)
from cephview.analysis.tracing import TracingPrimitive, tracing_primitives

__all__ = [
    "CANONICAL_SCHEMA",
    "CSV_HEADER",
    "DEFAULT_NORM_SET",
    "AnalysisDef",
    "FormulaError",
    "MeasurementDef",
    "MeasurementResult",
    "NormFileError",
    "NormRow",
    "NormSet",
    "TracingPrimitive",
    "available_analyses",
    "available_norm_sets",
    "compute_measurements",
    "get_analysis",
    "load_analyses",
    "load_norm_set",
    "tracing_primitives",
    "write_measurements_csv",
]
