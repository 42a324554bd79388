"""Listing inputs for people: microphones and what records the computer's output, one line each.

Used by ``voicecount devices``, the overlay's microphone menu and ``doctor``. Device names
come from drivers and sound servers: they are data and are printed through ``one_line``.
"""

from __future__ import annotations

import sys

from .backends import InputDevice, get_backend
from .errors import AudioError
from .escape import one_line


def describe(d: InputDevice) -> str:
    """`*  3  USB Mic  (1 ch, 48000 Hz, ALSA)  [monitor]`: default mark, index, name, format, kind."""
    mark = "*" if d.is_default else " "
    rate = f"{d.rate:.0f} Hz" if d.rate else "any rate"
    kind = f"  [{d.kind}]" if d.plays_output else ""
    return f"{mark}{d.index:3d}  {one_line(d.name)}  ({d.channels} ch, {rate}, {one_line(d.host_api)}){kind}"


def system_listing(backend: str) -> tuple[list[InputDevice], str | None]:
    """The monitors/loopbacks of the "system" backend and, when they cannot be listed, why (with the fix).

    On macOS the loopbacks are among the sounddevice inputs already (marked), so with that
    backend nothing is listed twice.
    """
    if backend == "system" or (sys.platform == "darwin" and backend == "sounddevice"):
        return [], None
    try:
        return get_backend("system").devices(), None
    except AudioError as e:
        return [], str(e)


def every_input(backend: str) -> list[InputDevice]:
    """Microphones of ``backend``, then what records the output: the overlay's microphone menu.

    With a monitor/loopback chosen (backend "system", remembered from this menu) the microphones
    are sounddevice's, so the menu still offers a way back to them.
    """
    microphones = "sounddevice" if backend == "system" else backend
    return get_backend(microphones).devices() + system_listing(microphones)[0]


def asked_for(d: InputDevice) -> str:
    """How to open ``d`` again: by its name when no other device of its backend has it, else by index.

    An index is a position in the backend's list, which moves when a device comes or goes
    between listing and choosing; the name is also what the settings remember.
    """
    same = [o for o in get_backend(d.backend).devices() if o.name.casefold() == d.name.casefold()]
    return d.name if len(same) == 1 else str(d.index)
