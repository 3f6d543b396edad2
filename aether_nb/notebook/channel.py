"""The notebook's channel adapter: the chat lives in each run's widget.

Messages and questions are events of the run, and every displayed :class:`~aether_nb.notebook.widget.RunView`
folds its run's events into its chat panel and input controls; answers come back from the widget as custom
messages. So this adapter has nothing to print and nothing to read: it exists so that nothing falls back to the
console inside a notebook (where stdin cannot answer).
"""

from __future__ import annotations

from aether_nb.runtime.waits import Wait
from aether_nb.services.channel import Message, Respond


class WidgetChannel:
    """Channel adapter for notebooks: the run widget shows messages and questions and sends the answers."""

    def deliver(self, message: Message) -> None:
        """Nothing to do: the run's widget shows the message from the run's event."""

    async def present(self, wait: Wait, respond: Respond) -> None:
        """Nothing to do: the run's widget shows the question and answers it through ``run.answer``."""
