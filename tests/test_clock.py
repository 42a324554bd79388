"""The one time formatter: moments in a talk, citations, and lengths."""

from __future__ import annotations

import pytest

from voicecount.clock import clock, hms, stamp


@pytest.mark.parametrize(
    "seconds, moment, cited",
    [
        (0.0, "00:00.0", "00:00"),
        (23.9, "00:23.9", "00:23"),
        (59.96, "01:00.0", "00:59"),  # rounded before the minutes split: never 00:60.0
        (88.6, "01:28.6", "01:28"),  # a citation names the second the sentence starts in
        (3599.96, "1:00:00.0", "59:59"),
        (3723.4, "1:02:03.4", "1:02:03"),
        (-2.0, "00:00.0", "00:00"),
    ],
)
def test_moments_and_citations(seconds, moment, cited):
    assert clock(seconds) == moment
    assert stamp(seconds) == cited


def test_lengths_always_show_hours():
    assert hms(18.5) == "0:00:18" and hms(3725) == "1:02:05"
