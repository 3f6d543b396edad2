"""Public fakes for testing agents and notebooks: a scripted channel and a manual clock."""

from aether_nb.testing.channel import ScriptedChannel
from aether_nb.testing.clock import ManualClock

__all__ = ["ManualClock", "ScriptedChannel"]
