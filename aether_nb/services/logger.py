"""``context.logger()``: a ``logging.Logger`` per node whose records become run events (widget and store)."""

from __future__ import annotations

import logging

from aether_nb.runtime.context import NodeContext
from aether_nb.runtime.events import LogRecord


class _RunHandler(logging.Handler):
    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(logging.DEBUG)
        self._ctx = ctx

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # logging's own contract: report through handleError, never raise
            self.handleError(record)
            return
        self._ctx.run.emit(
            LogRecord, node_id=self._ctx.node_id, level=record.levelname, message=message, ts=record.created
        )


def node_logger(ctx: NodeContext) -> logging.Logger:
    """A logger for this node. Built outside ``logging.getLogger`` so per-node loggers are not kept forever."""
    logger = logging.Logger(f"aether_nb.{ctx.graph}.{ctx.node_id or 'root'}", logging.INFO)
    logger.addHandler(_RunHandler(ctx))
    logger.propagate = False
    return logger
