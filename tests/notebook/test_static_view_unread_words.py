"""A message the agent has not read yet says so in plain words in the saved view, as the live widget does.

The saved view said "queued: the agent reads it at its next receive()": people took it for sent and read, and
``receive()`` means nothing to someone who did not write the agent (js/lib/chat.ts says the same words now).
"""

from __future__ import annotations

from aether_nb.notebook.static_view import transcript, transcript_html

MESSAGE = {
    "id": "m1",
    "role": "user",
    "type": "text",
    "final": True,
    "content": {"text": "late check-in please", "turn": "message", "queued": True, "unread": False},
}


def test_a_queued_message_says_in_plain_words_that_the_agent_has_not_read_it() -> None:
    words = "not read yet: the agent reads messages only when it asks for one"
    assert transcript([MESSAGE]) == f"user: late check-in please ({words})"
    page = transcript_html([MESSAGE])
    assert words in page
    assert "receive()" not in page and "queued" not in page
