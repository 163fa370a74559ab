"""The console's HTML pages, one module a page: the dashboard, a saga's
page, the repair pages, the re-drive pages, the schedules' pages and the
flow page (limits and pauses), over
what they share (``common``). The views ``django_saga.urls`` routes to are
named here.
"""

from .dashboard import DashboardView
from .detail import DIAGRAM_STAGES, STEPS_PER_PAGE, SagaDetailView
from .flow import FlowActView, FlowView
from .redrive import RedriveProgressView, RedriveView
from .repair import ActionConfirmView, ActionView, StepActionView
from .schedules import ScheduleActView, ScheduleDetailView, ScheduleListView

__all__ = [
    "DIAGRAM_STAGES",
    "STEPS_PER_PAGE",
    "ActionConfirmView",
    "ActionView",
    "DashboardView",
    "FlowActView",
    "FlowView",
    "RedriveProgressView",
    "RedriveView",
    "SagaDetailView",
    "ScheduleActView",
    "ScheduleDetailView",
    "ScheduleListView",
    "StepActionView",
]
