"""MCP results as JSON: a tool result as the tool's outputs, resources and prompts as plain dicts and lists.

What a run journals and a notebook shows is JSON, never SDK objects, so results survive a restart and read the
same in the widget, the store and the saved notebook.
"""

from __future__ import annotations

from typing import Any

from aether_nb.errors import MCPError


def as_json(items: Any) -> Any:
    """SDK models (or lists of them) as the protocol's JSON (camelCase keys, empty fields left out)."""
    if isinstance(items, list):
        return [as_json(i) for i in items]
    dump = getattr(items, "model_dump", None)
    return dump(mode="json", by_alias=True, exclude_none=True) if dump is not None else items


def prompt_of(result: Any) -> dict[str, Any]:
    """A ``GetPromptResult`` as ``{"description", "messages"}`` in the chat format (text content as a string)."""
    from mcp_types import TextContent

    messages = [
        {"role": m.role, "content": m.content.text if isinstance(m.content, TextContent) else as_json(m.content)}
        for m in result.messages
    ]
    return {"description": result.description, "messages": messages}


def outputs_of(result: Any, tool: str) -> dict[str, Any]:
    """A ``CallToolResult`` as the tool's outputs: structured content as is, else ``{"result": text}``.

    Content blocks other than text (images, audio, resources) are kept under ``"content"`` as JSON.

    Raises:
        MCPError: ``mcp_tool_error`` when the result says ``isError``; the message is the tool's text.
    """
    from mcp_types import TextContent

    texts = [b.text for b in result.content if isinstance(b, TextContent)]
    others = [
        b.model_dump(mode="json", by_alias=True, exclude_none=True)
        for b in result.content
        if not isinstance(b, TextContent)
    ]
    text = "\n".join(texts)
    if result.is_error:
        raise MCPError(f"MCP tool {tool} reported an error: {text or '(no message)'}", code="mcp_tool_error")
    structured = result.structured_content
    outputs: dict[str, Any] = dict(structured) if isinstance(structured, dict) else {"result": text}
    if others and "content" not in outputs:
        outputs["content"] = others
    return outputs
