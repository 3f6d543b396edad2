"""The Runnable conveniences LangGraph's compiled graphs inherit from LangChain and that LangGraph code uses every
day: ``with_config``, ``batch``/``abatch``, ``(a)batch_as_completed``, ``get_subgraphs``, ``get_name``, ``aget_graph``.

They are thin: ``abatch`` is one ``ainvoke`` per input, run concurrently (the inputs given one thread run one after
the other: a thread runs one turn at a time); ``with_config`` returns a view of the same compiled graph (same
checkpoints, same runs) whose calls merge a default config into theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aether_nb.errors import UsageError, shown

if TYPE_CHECKING:
    from aether_nb.flow.compiled import CompiledGraph
    from aether_nb.flow.draw import DrawableGraph


def merge_configs(base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``extra`` over ``base``, as LangChain merges configs: ``configurable`` and ``metadata`` merge key by key,
    ``tags`` add up, anything else is replaced."""
    out = dict(base or {})
    for key, value in (extra or {}).items():
        if key in ("configurable", "metadata") and isinstance(value, Mapping):
            prior = out.get(key)
            out[key] = {**(prior if isinstance(prior, Mapping) else {}), **value}
        elif key == "tags" and isinstance(value, (list, tuple)):
            out[key] = [*(out.get(key) or []), *value]
        else:
            out[key] = value
    return out


def _configs(inputs: Sequence[Any], config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[Any]:
    if not isinstance(inputs, Sequence) or isinstance(inputs, (str, bytes, Mapping)):
        raise UsageError(f"batch() takes a list of inputs, got {shown(inputs)}")
    if config is None or isinstance(config, Mapping):
        return [config] * len(inputs)
    configs = list(config)
    if len(configs) != len(inputs):
        raise UsageError(f"batch(): {len(inputs)} inputs but {len(configs)} configs; give one config or one per input")
    return configs


def _lanes(configs: Sequence[Any]) -> list[list[int]]:
    """The inputs' indices by thread, in input order: the inputs of one thread run one after the other, each on the
    state the one before left (concurrent, the second found the thread running and failed, or ran after the first,
    as timing fell). An input with no thread id is a lane of its own. The thread is read as ``parse_config`` reads
    it: a flat ``thread_id`` over the one under ``configurable``."""
    lanes: dict[Any, list[int]] = {}
    for i, cfg in enumerate(configs):
        flat = cfg if isinstance(cfg, Mapping) else {}
        configurable = flat.get("configurable")
        thread = flat.get("thread_id")
        if thread is None and isinstance(configurable, Mapping):
            thread = configurable.get("thread_id")
        lanes.setdefault(("thread", str(thread)) if thread is not None else ("alone", i), []).append(i)
    return list(lanes.values())


class RunnableMixin:
    """Mixed into :class:`~aether_nb.flow.compiled.CompiledGraph`."""

    name: str

    async def abatch(
        self,
        inputs: Sequence[Any],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """``ainvoke`` each input (with the config, or its own from a list of configs) concurrently; results in
        input order. Inputs given the same thread run one after the other, in order (one thread runs one turn at a
        time; LangGraph runs them at once, each from the thread's state before the call)."""
        graph: Any = self
        configs = _configs(inputs, config)
        results: list[Any] = [None] * len(configs)

        async def lane(indices: list[int]) -> None:
            for i in indices:
                try:
                    results[i] = await graph.ainvoke(inputs[i], configs[i], **kwargs)
                except Exception as exc:
                    if not return_exceptions:
                        raise
                    results[i] = exc

        await asyncio.gather(*(lane(indices) for indices in _lanes(configs)))
        return results

    def batch(
        self,
        inputs: Sequence[Any],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """:meth:`abatch` for scripts."""
        from aether_nb.flow.turns import no_running_loop

        no_running_loop("batch()", "await app.abatch(...)")
        return asyncio.run(self.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs))

    async def abatch_as_completed(
        self,
        inputs: Sequence[Any],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[int, Any]]:
        """:meth:`abatch` yielding ``(index, result)`` as each call finishes (LangChain's ``abatch_as_completed``);
        leaving the loop early stops the calls still running."""
        graph: Any = self

        async def one(i: int, inp: Any, cfg: Any) -> tuple[int, Any]:
            try:
                return i, await graph.ainvoke(inp, cfg, **kwargs)
            except Exception as exc:
                if not return_exceptions:
                    raise
                return i, exc

        configs = _configs(inputs, config)
        done: asyncio.Queue[tuple[int, Any] | BaseException] = asyncio.Queue()

        async def lane(indices: list[int]) -> None:  # (one thread's inputs, in order: see _lanes)
            for i in indices:
                try:
                    done.put_nowait(await one(i, inputs[i], configs[i]))
                except BaseException as exc:  # (raised by the loop below: a failure, or a call stopped)
                    done.put_nowait(exc)
                    raise

        calls = [asyncio.ensure_future(lane(indices)) for indices in _lanes(configs)]
        try:
            for _ in configs:
                item = await done.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for c in calls:
                c.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

    def batch_as_completed(
        self,
        inputs: Sequence[Any],
        config: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> Iterator[tuple[int, Any]]:
        """:meth:`abatch_as_completed` for scripts: ``(index, result)`` pairs as the calls finish."""
        from aether_nb.flow.streaming import drive
        from aether_nb.flow.turns import no_running_loop

        no_running_loop("batch_as_completed()", "async for i, out in app.abatch_as_completed(...)")
        return drive(self.abatch_as_completed(inputs, config, return_exceptions=return_exceptions, **kwargs))

    def with_config(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> ConfiguredGraph:
        """This graph with a default config (``with_config(recursion_limit=5)``, ``with_config({"configurable":
        {...}})``) merged under the config of every call."""
        if config is not None and not isinstance(config, Mapping):
            raise UsageError(f"with_config() takes a config dict, got {shown(config)}")
        graph: Any = self
        return ConfiguredGraph(graph, merge_configs(config, kwargs))

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """The graph's name (LangChain's ``get_name``)."""
        base = name or self.name
        return f"{base}{suffix}" if suffix else base

    def get_subgraphs(self, *, namespace: str | None = None, recurse: bool = False) -> Iterator[tuple[str, Any]]:
        """``(node name, compiled graph)`` for each node that is a compiled graph (nested ones as ``outer|inner``
        with ``recurse``); ``namespace`` keeps the one with that name."""
        graph: Any = self
        for node, spec in graph.nodes.items():
            sub = spec.subgraph
            if sub is None:
                continue
            if namespace is not None and node != namespace.split("|")[0]:
                continue
            rest = namespace.split("|", 1)[1] if namespace is not None and "|" in namespace else None
            if rest is None:
                yield node, sub
            if recurse or rest is not None:
                for inner, g in sub.get_subgraphs(namespace=rest, recurse=recurse):
                    yield f"{node}|{inner}", g

    async def aget_subgraphs(
        self, *, namespace: str | None = None, recurse: bool = False
    ) -> AsyncIterator[tuple[str, Any]]:
        """:meth:`get_subgraphs`, async."""
        for item in self.get_subgraphs(namespace=namespace, recurse=recurse):
            yield item

    async def aget_graph(self, *, xray: bool | int = False) -> DrawableGraph:
        """``get_graph``, async."""
        graph: Any = self
        result: DrawableGraph = graph.get_graph(xray=xray)
        return result


class ConfiguredGraph:
    """A compiled graph seen through a default config (what ``with_config`` returns): the calls that take a
    config merge theirs over it; everything else is the graph's own."""

    def __init__(self, graph: CompiledGraph, config: dict[str, Any]) -> None:
        self.graph = graph
        self.config = config

    def __repr__(self) -> str:
        return f"<{self.graph!r} with config {self.config!r}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graph, name)

    def _merged(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        return merge_configs(self.config, config)

    def with_config(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> ConfiguredGraph:
        return ConfiguredGraph(self.graph, merge_configs(self.config, merge_configs(config, kwargs)))

    async def ainvoke(self, input: Any = None, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return await self.graph.ainvoke(input, self._merged(config), **kw)

    def invoke(self, input: Any = None, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.graph.invoke(input, self._merged(config), **kw)

    def astream(self, input: Any = None, config: Mapping[str, Any] | None = None, **kw: Any) -> AsyncIterator[Any]:
        return self.graph.astream(input, self._merged(config), **kw)

    def stream(self, input: Any = None, config: Mapping[str, Any] | None = None, **kw: Any) -> Iterator[Any]:
        return self.graph.stream(input, self._merged(config), **kw)

    async def abatch(self, inputs: Sequence[Any], config: Any = None, **kw: Any) -> list[Any]:
        configs = [self._merged(c) for c in _configs(inputs, config)]
        return await self.graph.abatch(inputs, configs, **kw)

    def batch(self, inputs: Sequence[Any], config: Any = None, **kw: Any) -> list[Any]:
        return self.graph.batch(inputs, [self._merged(c) for c in _configs(inputs, config)], **kw)

    def abatch_as_completed(self, inputs: Sequence[Any], config: Any = None, **kw: Any) -> AsyncIterator[Any]:
        return self.graph.abatch_as_completed(inputs, [self._merged(c) for c in _configs(inputs, config)], **kw)

    def batch_as_completed(self, inputs: Sequence[Any], config: Any = None, **kw: Any) -> Iterator[Any]:
        return self.graph.batch_as_completed(inputs, [self._merged(c) for c in _configs(inputs, config)], **kw)

    def get_state(self, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.graph.get_state(self._merged(config), **kw)

    async def aget_state(self, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return await self.graph.aget_state(self._merged(config), **kw)

    def get_state_history(self, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.graph.get_state_history(self._merged(config), **kw)

    def aget_state_history(self, config: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.graph.aget_state_history(self._merged(config), **kw)

    def update_state(self, config: Mapping[str, Any] | None, values: Any, as_node: str | None = None) -> Any:
        return self.graph.update_state(self._merged(config), values, as_node)

    async def aupdate_state(self, config: Mapping[str, Any] | None, values: Any, as_node: str | None = None) -> Any:
        return await self.graph.aupdate_state(self._merged(config), values, as_node)

    async def astop(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await self.graph.astop(self._merged(config))

    def stop(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.graph.stop(self._merged(config))
