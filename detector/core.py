"""The one type that flows through the code: :class:`Detections`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Detections:
    """Boxes found in one frame, as parallel numpy arrays.

    Attributes:
        xyxy: ``(n, 4)`` float32 pixel corners ``x1, y1, x2, y2``.
        class_id: ``(n,)`` int64 class indices into ``names``.
        confidence: ``(n,)`` float32 scores in [0, 1].
        tracker_id: ``(n,)`` int64 track ids, or ``None`` when not tracked.
        names: class index to class name.

    Example:
        >>> d = Detections(np.array([[0, 0, 10, 10]]), np.array([1]), np.array([0.9]),
        ...                names={0: "neutral", 1: "smile"})
        >>> d.labels
        ['smile']
    """

    xyxy: np.ndarray
    class_id: np.ndarray
    confidence: np.ndarray
    tracker_id: np.ndarray | None = None
    names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
        for name, arr in (("class_id", self.class_id), ("confidence", self.confidence),
                          ("tracker_id", self.tracker_id)):
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} entries, xyxy has {n}")
        if n and (np.any(self.xyxy[:, 2] < self.xyxy[:, 0]) or np.any(self.xyxy[:, 3] < self.xyxy[:, 1])):
            raise ValueError("xyxy rows must have x2 >= x1 and y2 >= y1")
        if n and (np.any(self.confidence < 0) or np.any(self.confidence > 1)):
            raise ValueError("confidence must lie in [0, 1]")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        if isinstance(index, int):
            index = [index]
        return Detections(
            self.xyxy[index],
            self.class_id[index],
            self.confidence[index],
            None if self.tracker_id is None else self.tracker_id[index],
            self.names,
        )

    @classmethod
    def empty(cls, names: dict[int, str] | None = None) -> Detections:
        """No detections.

        Example:
            >>> len(Detections.empty())
            0
        """
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), None, dict(names or {}))

    @classmethod
    def from_ultralytics(cls, result: Any) -> Detections:
        """Convert one Ultralytics ``Results`` object (detect or track mode).

        Example:
            >>> # dets = Detections.from_ultralytics(model.predict(frame)[0])
        """
        names = {int(k): str(v) for k, v in dict(result.names).items()}
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls.empty(names)
        ids = boxes.id
        return cls(
            boxes.xyxy.cpu().numpy(),
            boxes.cls.cpu().numpy(),
            boxes.conf.cpu().numpy(),
            None if ids is None else ids.cpu().numpy(),
            names,
        )

    @property
    def labels(self) -> list[str]:
        """Class names of the boxes, in order."""
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per box, for JSON/CSV writers.

        Example:
            >>> Detections.empty().to_records()
            []
        """
        out = []
        for i in range(len(self)):
            x1, y1, x2, y2 = (round(float(v), 1) for v in self.xyxy[i])
            out.append({
                "track_id": None if self.tracker_id is None else int(self.tracker_id[i]),
                "class_id": int(self.class_id[i]),
                "class_name": self.labels[i],
                "confidence": round(float(self.confidence[i]), 4),
                "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            })
        return out
