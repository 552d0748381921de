"""The SPF lookup tree's lines, as shown in the evidence of spf.ok and spf.too_many_lookups."""

from __future__ import annotations

from checks.spf.tree import Node, Problem


def test_tree_lines_mark_the_problem_by_its_name() -> None:
    node = Node(
        "example.test",
        "",
        0,
        own=1,
        children=(
            Node("gone.example.test", "include:gone.example.test", 1, problem=Problem.NO_SPF),
        ),
    )

    assert node.lines() == [
        "example.test: 1 lookup (1 in the record itself)",
        "  include:gone.example.test -> gone.example.test: 0 lookups [no_spf]",
    ]
