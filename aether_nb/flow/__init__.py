"""State graphs in the LangGraph/Agentflow style, running on aether_nb's runtime.

::

    from aether_nb.flow import StateGraph, START, END, MessagesState, ToolNode, tools_condition, interrupt

    g = StateGraph(MessagesState)
    g.add_node("agent", agent); g.add_node("tools", ToolNode([search]))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    app = g.compile()                                   # checkpoints in the notebook's store
    res = await app.ainvoke({"messages": [{"role": "user", "content": "hi"}]}, {"thread_id": "t1"})
    res["messages"], res.status

Each turn is an aether_nb run: its nodes, tool and LLM calls are DAG nodes and journal entries, so pauses
(``interrupt()``, ``interrupt_before``/``after``) survive a kernel restart and a resumed node replays the steps
it already completed. Supersteps, reducers, ``Send``, waiting edges, subgraphs, checkpoints and time travel follow
LangGraph's semantics; the README lists the differences.
"""

from aether_nb.flow.builder import StateGraph
from aether_nb.flow.cache import CachePolicy, InMemoryCache
from aether_nb.flow.checkpoint import (
    Checkpoint,
    Checkpointer,
    InMemoryCheckpointer,
    InMemorySaver,
    MemorySaver,
    StoreCheckpointer,
)
from aether_nb.flow.compiled import CompiledGraph
from aether_nb.flow.context import ExecutionInfo, InvalidContext, Runtime, ToolRuntime
from aether_nb.flow.managed import IsLastStep, RemainingSteps
from aether_nb.flow.messages import (
    REMOVE_ALL_MESSAGES,
    AgentState,
    Message,
    MessagesState,
    RemoveMessage,
    add_messages,
    assistant_message,
    system_message,
    to_openai,
    tool_call,
    tool_message,
    user_message,
)
from aether_nb.flow.nodes import get_config, get_runtime, get_store, get_stream_writer, interrupt
from aether_nb.flow.retry import RetryPolicy, default_retry_on
from aether_nb.flow.tool_errors import ToolInvocationError
from aether_nb.flow.toolnode import (
    InjectedConfig,
    InjectedState,
    InjectedToolCallId,
    ToolNode,
    ToolResult,
    tools_condition,
)
from aether_nb.flow.types import (
    END,
    START,
    AmbiguousResume,
    Command,
    EmptyInputError,
    EmptyUpdate,
    GraphBuildError,
    GraphOutput,
    GraphRecursionError,
    Interrupt,
    InvalidConfig,
    InvalidUpdate,
    InvalidUpdateError,
    InvokeResult,
    NodeError,
    Overwrite,
    PregelTask,
    Send,
    StateSnapshot,
    StateUpdate,
    UnknownRoute,
)

__all__ = [
    "END",
    "REMOVE_ALL_MESSAGES",
    "START",
    "AgentState",
    "AmbiguousResume",
    "CachePolicy",
    "Checkpoint",
    "Checkpointer",
    "Command",
    "CompiledGraph",
    "EmptyInputError",
    "EmptyUpdate",
    "ExecutionInfo",
    "GraphBuildError",
    "GraphOutput",
    "GraphRecursionError",
    "InMemoryCache",
    "InMemoryCheckpointer",
    "InMemorySaver",
    "InjectedConfig",
    "InjectedState",
    "InjectedToolCallId",
    "Interrupt",
    "InvalidConfig",
    "InvalidContext",
    "InvalidUpdate",
    "InvalidUpdateError",
    "InvokeResult",
    "IsLastStep",
    "MemorySaver",
    "Message",
    "MessagesState",
    "NodeError",
    "Overwrite",
    "PregelTask",
    "RemainingSteps",
    "RemoveMessage",
    "RetryPolicy",
    "Runtime",
    "Send",
    "StateGraph",
    "StateSnapshot",
    "StateUpdate",
    "StoreCheckpointer",
    "ToolInvocationError",
    "ToolNode",
    "ToolResult",
    "ToolRuntime",
    "UnknownRoute",
    "add_messages",
    "assistant_message",
    "default_retry_on",
    "get_config",
    "get_runtime",
    "get_store",
    "get_stream_writer",
    "interrupt",
    "system_message",
    "to_openai",
    "tool_call",
    "tool_message",
    "tools_condition",
    "user_message",
]
