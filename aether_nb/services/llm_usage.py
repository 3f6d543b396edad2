"""What LLM calls cost: :class:`Usage` (tokens and cost of one call or of several), :func:`run_usage` (a run's
total, from its ``llm`` nodes) and :class:`RunToolsResult` (what a tool-calling loop returns). Re-exported by
:mod:`aether_nb.services.llm`, where the calls are made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aether_nb.runtime.run import Run


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one call, or summed over several (``a + b``).

    A call's cost is unknown when its model is not in the price table or the endpoint reported no usage; such calls
    are counted in ``unpriced_calls``. A sum's ``cost_usd`` is the known cost of the others (so one local model does
    not hide what the rest cost), with ``cost_partial`` True; it is None only when no call's cost is known.
    ``truncated_calls`` counts replies that stopped at the token limit (``finish_reason == "length"``).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0
    calls: int = 0
    cached_calls: int = 0
    truncated_calls: int = 0
    unpriced_calls: int = 0

    @property
    def cost_partial(self) -> bool:
        """Whether some calls' cost is unknown: ``cost_usd``, when not None, then counts only the others."""
        return self.unpriced_calls > 0

    def __add__(self, other: Usage) -> Usage:
        calls = self.calls + other.calls
        unpriced = self.unpriced_calls + other.unpriced_calls
        known = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        cost = None if not known or (calls and unpriced >= calls) else sum(known)
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            cost,
            calls,
            self.cached_calls + other.cached_calls,
            self.truncated_calls + other.truncated_calls,
            unpriced,
        )

    @classmethod
    def from_node(cls, data: Any) -> Usage:
        """From the usage dict an ``llm`` node carries."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            int(data.get("prompt_tokens") or 0),
            int(data.get("completion_tokens") or 0),
            int(data.get("total_tokens") or 0),
            data.get("cost_usd"),
            1,
            1 if data.get("cached") else 0,
            1 if data.get("truncated") else 0,
            1 if data.get("cost_usd") is None else 0,
        )


@dataclass(frozen=True)
class RunToolsResult:
    """What :meth:`LLM.run_tools` returns: the final text, the whole conversation, model turns, summed usage."""

    text: str
    messages: list[dict[str, Any]]
    steps: int
    usage: Usage


def run_usage(run: Run) -> Usage:
    """Total tokens and cost of a run's LLM calls (replayed calls count with what they cost when they ran).

    Calls of unknown cost do not hide the others': ``cost_usd`` is what the priced calls cost, ``cost_partial``
    says some were left out and ``unpriced_calls`` how many.
    """
    total = Usage()
    for node in run.graph.nodes:
        if node.kind != "llm" or node.status != "DONE":
            continue
        data = node.usage
        if data is None and isinstance(node.outputs, Mapping):
            data = node.outputs.get("usage")
        total += Usage.from_node(data)
    return total
