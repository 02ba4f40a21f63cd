"""The annotation record of one image: per landmark the AI and final positions, with provenance.

The AI position is never overwritten by an edit, so "reset to AI" always works and the
correction distance (final - AI) measures the model on the clinic's own images. Only
``accepted``, ``corrected`` and ``manual`` landmarks may teach a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum

from cephview.core.calibration import Calibration


class LandmarkStatus(str, Enum):
    AI = "ai"  # predicted, not yet looked at
    ACCEPTED = "accepted"  # clinician agreed with the AI position
    CORRECTED = "corrected"  # clinician moved the AI position
    MANUAL = "manual"  # placed by hand without an AI position
    MISSING = "missing"  # not visible / not placeable on this image

    @property
    def reviewed(self) -> bool:
        return self is not LandmarkStatus.AI

    @property
    def trainable(self) -> bool:
        return self in (LandmarkStatus.ACCEPTED, LandmarkStatus.CORRECTED, LandmarkStatus.MANUAL)


CVM_STAGES = ("CS1", "CS2", "CS3", "CS4", "CS5", "CS6")
# A landmark's confidence is the calibrated probability that the AI put it within 2 mm of where
# experts would (cephview/model/confidence.py). Below this, the review asks for a look; each
# project can set its own (ProjectStore setting CHECK_BELOW_SETTING).
DEFAULT_CHECK_BELOW = 0.8
CHECK_BELOW_SETTING = "review_check_below"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LandmarkAnnotation:
    code: str
    x: float | None = None  # final position, original-image pixels
    y: float | None = None
    ai_x: float | None = None
    ai_y: float | None = None
    confidence: float | None = None
    status: LandmarkStatus = LandmarkStatus.AI
    model_version: str | None = None
    edited_at: str | None = None  # time of the last edit (UTC, ISO 8601)

    @property
    def has_position(self) -> bool:
        return self.x is not None and self.y is not None and self.status is not LandmarkStatus.MISSING

    @property
    def correction_px(self) -> float | None:
        """Distance from the AI position to the final one; None without both."""
        if not self.has_position or self.ai_x is None or self.ai_y is None:
            return None
        return math.hypot(self.x - self.ai_x, self.y - self.ai_y)  # type: ignore[operator]

    @property
    def review_confidence(self) -> float | None:
        """Confidence as the review sees it: the AI's for an unreviewed landmark, 1 once a clinician
        has accepted, corrected or placed it (the stored ``confidence`` stays the AI's, so the
        model's figures keep their meaning); None without a position or an AI confidence."""
        if not self.has_position:
            return None
        if self.status.trainable:
            return 1.0
        return self.confidence

    def needs_check(self, below: float = DEFAULT_CHECK_BELOW) -> bool:
        """An AI landmark nobody has reviewed whose confidence is below ``below``."""
        return self.status is LandmarkStatus.AI and self.confidence is not None and self.confidence < below

    # Edits return new records: records are values, which makes undo trivial.
    def moved_to(self, x: float, y: float) -> LandmarkAnnotation:
        status = LandmarkStatus.MANUAL if self.ai_x is None else LandmarkStatus.CORRECTED
        return replace(self, x=float(x), y=float(y), status=status, edited_at=utc_now())

    def accepted(self) -> LandmarkAnnotation:
        if self.ai_x is None:
            return self
        return replace(self, x=self.ai_x, y=self.ai_y, status=LandmarkStatus.ACCEPTED, edited_at=utc_now())

    def reset_to_ai(self) -> LandmarkAnnotation:
        if self.ai_x is None:
            return replace(self, x=None, y=None, status=LandmarkStatus.MISSING, edited_at=utc_now())
        return replace(self, x=self.ai_x, y=self.ai_y, status=LandmarkStatus.AI, edited_at=utc_now())

    def marked_missing(self) -> LandmarkAnnotation:
        return replace(self, status=LandmarkStatus.MISSING, edited_at=utc_now())

    @property
    def untouched(self) -> bool:
        """Nobody has looked at it: an AI position, or the placeholder of a never-predicted landmark."""
        return self.status is LandmarkStatus.AI or (self.status is LandmarkStatus.MISSING and self.edited_at is None)

    def with_prediction(self, x: float, y: float, confidence: float, model_version: str) -> LandmarkAnnotation:
        """A new AI result: replaces the final position only where nobody has reviewed it.

        A ``missing`` landmark nobody has touched (``edited_at`` None, as in
        :meth:`ImageAnnotation.empty`) is a placeholder, not a review, so it takes the prediction.
        """
        keep = self.status.reviewed and not (self.status is LandmarkStatus.MISSING and self.edited_at is None)
        return replace(
            self, ai_x=float(x), ai_y=float(y), confidence=float(confidence), model_version=model_version,
            x=self.x if keep else float(x), y=self.y if keep else float(y),
            status=self.status if keep else LandmarkStatus.AI,
        )


@dataclass
class ImageAnnotation:
    """Everything known about one image besides its pixels."""

    image: str  # path relative to the project folder (or file name outside a project)
    schema: str
    landmarks: dict[str, LandmarkAnnotation] = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)
    cvm_stage: str | None = None  # CS1..CS6, set by hand
    notes: str = ""
    reviewed: bool = False
    view: dict = field(default_factory=dict)  # window/level, invert, gamma, zoom: display only

    def __post_init__(self) -> None:
        if self.cvm_stage is not None and self.cvm_stage not in CVM_STAGES:
            raise ValueError(f"CVM stage must be one of {', '.join(CVM_STAGES)}, got {self.cvm_stage!r}")

    @classmethod
    def empty(cls, image: str, schema_name: str) -> ImageAnnotation:
        from cephview.core.schema import load_schema

        codes = load_schema(schema_name).codes
        return cls(image, schema_name, {c: LandmarkAnnotation(c, status=LandmarkStatus.MISSING) for c in codes})

    def with_prediction(
        self, codes: list[str], points, confidence, model_version: str
    ) -> ImageAnnotation:
        """A copy with the new AI positions of the landmarks nobody has touched.

        Reviewed landmarks keep their whole record, AI position included, so their correction
        distance still measures the model the clinician saw (the Training tab's figures).
        """
        landmarks = dict(self.landmarks)
        for code, (x, y), conf in zip(codes, points, confidence):
            old = landmarks.get(code, LandmarkAnnotation(code, status=LandmarkStatus.MISSING))
            if old.untouched and math.isfinite(x) and math.isfinite(y):
                landmarks[code] = old.with_prediction(float(x), float(y), float(conf), model_version)
        return replace(self, landmarks=landmarks)

    def ordered(self) -> list[LandmarkAnnotation]:
        from cephview.core.schema import load_schema

        codes = load_schema(self.schema).codes
        extra = [c for c in self.landmarks if c not in codes]
        return [self.landmarks[c] for c in codes + extra if c in self.landmarks]

    @property
    def expected_corrections(self) -> float | None:
        """How many of the AI landmarks nobody has reviewed are expected to be more than 2 mm off:
        the sum of (1 - confidence) over them; None when none has a confidence."""
        values = [1.0 - lm.confidence for lm in self.landmarks.values()
                  if lm.status is LandmarkStatus.AI and lm.confidence is not None and lm.has_position]
        return float(sum(values)) if values else None

    def check_order(self) -> list[LandmarkAnnotation]:
        """The unreviewed AI landmarks from the least to the most confident (ties: schema order)."""
        ordered = self.ordered()
        rank = {lm.code: i for i, lm in enumerate(ordered)}
        todo = [lm for lm in ordered if lm.status is LandmarkStatus.AI and lm.has_position]
        return sorted(todo, key=lambda lm: (1.0 if lm.confidence is None else lm.confidence, rank[lm.code]))

    @property
    def all_reviewed(self) -> bool:
        return all(lm.status.reviewed for lm in self.landmarks.values())

    @property
    def has_prediction(self) -> bool:
        return any(lm.ai_x is not None for lm in self.landmarks.values())
