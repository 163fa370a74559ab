"""The console's HTML pages, one module a page: the dashboard, a saga's
page, the repair pages, the re-drive pages, the schedules' pages, the
flow page (limits and pauses) and the task pages (the inbox, a task), over
what they share (``common``). The views ``django_saga.urls`` routes to are
named here.
"""

from .dashboard import DashboardView
from .detail import DIAGRAM_STAGES, STEPS_PER_PAGE, SagaDetailView
from .flow import FlowActView, FlowView
from .redrive import RedriveProgressView, RedriveView
from .repair import ActionConfirmView, ActionView, StepActionView
from .schedules import ScheduleActView, ScheduleDetailView, ScheduleListView
from .tasks import ACTS as TASK_ACTS
from .tasks import InboxView, TaskView

__all__ = [
    "DIAGRAM_STAGES",
    "STEPS_PER_PAGE",
    "TASK_ACTS",
    "ActionConfirmView",
    "ActionView",
    "DashboardView",
    "FlowActView",
    "FlowView",
    "InboxView",
    "RedriveProgressView",
    "RedriveView",
    "SagaDetailView",
    "ScheduleActView",
    "ScheduleDetailView",
    "ScheduleListView",
    "StepActionView",
    "TaskView",
]
