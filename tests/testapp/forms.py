"""Forms the test app's task steps ask."""

from __future__ import annotations

from django import forms


class RefundDecisionForm(forms.Form):
    """How much of a refund a manager approves, and why."""

    amount = forms.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    note = forms.CharField(required=False, max_length=200)
