"""Sagas run end to end by an engine thread over the in-process transport, on each store."""
