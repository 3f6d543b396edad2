"""Public fakes for testing agents and notebooks: a scripted channel, a manual clock, scripted notebook
answers, an OpenAI-compatible server."""

from aether_nb.testing.answers import answer_or_wait, scripted
from aether_nb.testing.channel import ScriptedChannel
from aether_nb.testing.clock import ManualClock
from aether_nb.testing.fake_openai import FakeOpenAI

__all__ = ["FakeOpenAI", "ManualClock", "ScriptedChannel", "answer_or_wait", "scripted"]
