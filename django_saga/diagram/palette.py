"""The colours both renderers use, so that a status looks the same everywhere.

A status has its badge's colours on the console; the pivot and the boxes that
say what is left out have their own. Mermaid and the SVG both read them here.
"""

from __future__ import annotations

from ..models import StepStatus

#: (fill, stroke, text) per status; "" for a definition's steps, which have none.
COLOURS: dict[str, tuple[str, str, str]] = {
    "": ("#ffffff", "#94a3b8", "#1f2937"),
    StepStatus.PENDING: ("#ffffff", "#d1d5db", "#6b7280"),
    StepStatus.STARTED: ("#dbeafe", "#3b82f6", "#1e40af"),
    StepStatus.WAITING: ("#e0f2fe", "#0ea5e9", "#075985"),
    StepStatus.COMPLETED: ("#dcfce7", "#22c55e", "#166534"),
    StepStatus.SKIPPED: ("#f3f4f6", "#9ca3af", "#374151"),
    StepStatus.FAILED: ("#fee2e2", "#ef4444", "#991b1b"),
    StepStatus.COMPENSATING: ("#fef3c7", "#f59e0b", "#92400e"),
    StepStatus.COMPENSATED: ("#ede9fe", "#8b5cf6", "#5b21b6"),
    StepStatus.COMPENSATION_FAILED: ("#fecaca", "#7f1d1d", "#7f1d1d"),
    StepStatus.CANCELLED: ("#f9fafb", "#d1d5db", "#6b7280"),
}
#: Statuses drawn with a dashed border: the step did nothing (or never ran).
DASHED = (StepStatus.SKIPPED, StepStatus.CANCELLED)
#: The pivot's border: the point of no return.
PIVOT = "#ea580c"
#: (fill, stroke, text) of a box saying how many stages or steps are left out.
MORE = ("#f9fafb", "#9ca3af", "#6b7280")
