"""django-saga's benchmark: throughput, hand-off latency and memory, with a Celery baseline.

Run it with ``python -m django saga_bench --settings benchmarks.settings``; see README.md.
"""
