"""State graphs in the Agentflow/LangGraph style, running on aether_nb's runtime.

::

    from aether_nb.flow import StateGraph, START, END, AgentState, ToolNode, interrupt

    g = StateGraph(AgentState)
    g.add_node("agent", agent); g.add_node("tools", ToolNode([search]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, {"tools": "tools", "done": END})
    g.add_edge("tools", "agent")
    app = g.compile()                                   # checkpoints in the notebook's store
    res = await app.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, config={"thread_id": "t1"})
    res.status, res.state, res.messages

Each turn is an aether_nb run: its nodes, tool and LLM calls are DAG nodes and journal entries, so pauses
(``interrupt()``, ``interrupt_before``/``after``) survive a kernel restart and a resumed node replays the steps
it already completed. Every outgoing edge is followed (parallel fan-out with reducers), every checkpoint is kept,
and each compiled graph has its own checkpointer and services.
"""

from aether_nb.flow.builder import StateGraph
from aether_nb.flow.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer, StoreCheckpointer
from aether_nb.flow.compiled import CompiledGraph
from aether_nb.flow.messages import (
    AgentState,
    Message,
    add_messages,
    assistant_message,
    system_message,
    to_openai,
    tool_call,
    tool_message,
    user_message,
)
from aether_nb.flow.nodes import ToolNode, interrupt
from aether_nb.flow.types import (
    END,
    START,
    Command,
    GraphBuildError,
    GraphRecursionError,
    Interrupt,
    InvalidUpdate,
    InvokeResult,
    Overwrite,
    StateSnapshot,
)

__all__ = [
    "END",
    "START",
    "AgentState",
    "Checkpoint",
    "Checkpointer",
    "Command",
    "CompiledGraph",
    "GraphBuildError",
    "GraphRecursionError",
    "InMemoryCheckpointer",
    "Interrupt",
    "InvalidUpdate",
    "InvokeResult",
    "Message",
    "Overwrite",
    "StateGraph",
    "StateSnapshot",
    "StoreCheckpointer",
    "ToolNode",
    "add_messages",
    "assistant_message",
    "interrupt",
    "system_message",
    "to_openai",
    "tool_call",
    "tool_message",
    "user_message",
]
