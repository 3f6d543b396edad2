"""The widget protocol's short texts: what a DAG box says of a call's arguments."""

from __future__ import annotations

from aether_nb.notebook.protocol import arg_preview


def test_an_argument_preview_tells_a_list_from_its_length() -> None:
    """``log=[0]`` was shown for an empty list (and ``[5]`` for five items): read as a list holding 0 (or 5)."""
    assert arg_preview({"log": []}) == "log=[]"
    assert arg_preview({"log": ["a"]}) == "log=[1 item]"
    assert arg_preview({"log": [1, 2, 3, 4, 5]}) == "log=[5 items]"
    assert arg_preview({"opts": {}}) == "opts={}"
    assert arg_preview({"opts": {"a": 1}}) == "opts={…}"
    assert arg_preview({"x": 3, "city": "Oslo"}) == "x=3, city='Oslo'"
