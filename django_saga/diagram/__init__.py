"""A saga's picture: its stages, what each step did, and the order it was undone in.

One model, :class:`Graph`, built from a definition (what would run) or from a
saga (what ran), and two renderers: Mermaid text, for documents and chat, and
an SVG drawn here, so that the console shows it without a script, a font or
any other fetch. Step names and actions are the caller's data: both renderers
escape them. Both draw at most ``max_stages`` stages of at most
``max_parallel`` steps each and say how many more there are, so that a saga of
thousands of steps gives a picture of bounded size.

What lives where:

- ``graph``: the model (:class:`Graph`, :class:`Stage`, :class:`Node`), the
  limits, and :func:`definition_graph`, a definition's or a step list's graph;
- ``queries``: :func:`saga_graph` and :func:`stage_sizes`, the only reads of
  the database;
- ``mermaid``: :func:`to_mermaid`;
- ``svg``: :func:`to_svg`, with ``layout``, where its boxes sit;
- ``labels`` and ``palette``: the text and the colours both renderers use.

The names below are the package's public ones; import them from here.
"""

from .graph import (
    MAX_PARALLEL,
    MAX_STAGES,
    UNDONE,
    Graph,
    Node,
    Stage,
    definition_graph,
    linked,
)
from .mermaid import to_mermaid
from .queries import saga_graph, stage_sizes
from .svg import to_svg

__all__ = [
    "MAX_PARALLEL",
    "MAX_STAGES",
    "UNDONE",
    "Graph",
    "Node",
    "Stage",
    "definition_graph",
    "linked",
    "saga_graph",
    "stage_sizes",
    "to_mermaid",
    "to_svg",
]
