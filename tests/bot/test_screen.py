"""How much of a report a laptop screen shows: the estimates the Block Kit layout plans with."""

from __future__ import annotations

from bot.render import screen


def test_a_code_block_costs_its_lines_and_a_frame_and_long_lines_wrap() -> None:
    text = "a" * 111 + "\n> *Fix:* b\n```" + "c" * 20 + "```"

    assert screen.lines(text) == 2 + 1 + 1 + screen.CODE_FRAME


def test_problems_are_shown_in_full_while_they_fit_then_in_one_line_each() -> None:
    plan = screen.fit([5, 5, 5, 5, 5], reserved=5)  # 20 lines for the problems

    assert plan == screen.Fit(full=3, short=2)  # 3 x (5 + gap), 2 lines, and the Details line


def test_the_first_problem_is_always_in_full_and_the_one_liners_stop_at_the_screen() -> None:
    plan = screen.fit([30, *[1] * 40], reserved=5)

    assert plan.full == 1
    assert plan.short == 0  # no room left: "…and 40 more problems", then Details


def test_when_everything_fits_nothing_is_shortened() -> None:
    assert screen.fit([3, 3], reserved=6) == screen.Fit(full=2, short=0)
