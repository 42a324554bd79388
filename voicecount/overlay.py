"""The always-on-top overlay: the only module that touches Tk, always on the main thread.

A view of a run it is given (it does not own one): the window appears at once, while
the run's worker loads the model ("loading…"). The overlay reads its own subscription
to the run's pipeline in ``_poll`` every POLL_MS via ``after()``, so a count change is
on screen within POLL_MS of the matcher counting it; what it shows is the run's
``LiveState``, folded from those events. Commands go the other way through the
pipeline's methods (pause, undo, reset, set_keywords, switch_source, stop).

macOS notes: ``overrideredirect`` windows cannot take keyboard focus there, so on
Aqua the window is made borderless with the "plain" window style instead. Tk cannot
place a window above another app's full-screen Space; present in a window (or
"full screen" in a window) and the overlay stays on top.
"""

from __future__ import annotations

import threading
import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import replace
from tkinter import font as tkfont
from tkinter import messagebox
from typing import TYPE_CHECKING

from .config import OverlaySettings, parse_keyword_lines
from .devices import describe
from .errors import VoicecountError
from .events import (
    STATUS_TEXT,
    Caption,
    CountChange,
    Failed,
    FinalText,
    Finished,
    KeywordsChanged,
    LiveState,
    Progress,
    Ready,
    Resync,
    Status,
    error_text,
)
from .fillers import is_filler
from .matcher import Keyword, keyword_spec
from .pace import nudge

if TYPE_CHECKING:
    from .run import Run

POLL_MS = 30
MAX_EVENTS_PER_POLL = 500
MARGIN = 24  # pixels from the screen corner
TEXT_CHARS = 34  # width of the caption, in average characters; the status wraps at it too
FONT_SIZES = (8, 400)  # the font sizes the settings file takes; bigger and smaller stay inside them
DOT = 14  # pixels: the status dot's canvas
GAP = 4  # pixels between the dot and the status text

THEMES = {
    "dark": {"bg": "#101114", "fg": "#f4f4f4", "dim": "#9aa0a6", "pending": "#ffc857", "retracted": "#ff6b6b"},
    "light": {"bg": "#fbfbf8", "fg": "#111111", "dim": "#555b61", "pending": "#b7791f", "retracted": "#c0392b"},
}
STATUS_COLOURS = {
    "loading": "#9aa0a6",
    "listening": "#2ecc71",
    "paused": "#f1c40f",
    "dropped": "#e67e22",
    "silent": "#e67e22",
    "lost": "#e74c3c",
    "error": "#e74c3c",
    "finished": "#3498db",
}
FILLER_ROW = "fillers"  # the one row all filler keywords share
# Every action once: its menu label, the keys shown beside it, the Tk keys bound, the method.
# None is a separator in the right-click menu.
ACTIONS: tuple[tuple[str, str, tuple[str, ...], str] | None, ...] = (
    ("Pause / resume", "space", ("<space>", "p"), "toggle_pause"),
    ("Undo last hit", "u", ("u", "<BackSpace>"), "undo"),
    ("Reset counts…", "r", ("r",), "reset"),
    None,
    ("Keywords…", "k", ("k",), "edit_keywords"),
    ("Microphone…", "m", ("m",), "choose_microphone"),
    ("Toggle caption", "c", ("c",), "toggle_caption"),
    ("Light / dark", "t", ("t",), "toggle_theme"),
    ("Bigger", "+", ("plus", "equal"), "bigger"),
    ("Smaller", "−", ("minus",), "smaller"),
    None,
    ("Quit", "q", ("q", "<Escape>"), "quit"),
)


class Overlay:
    """A small borderless, topmost window with one large count per keyword."""

    def __init__(
        self,
        root: tk.Tk,
        run: Run,
        settings: OverlaySettings | None = None,
        on_settings: Callable[[OverlaySettings, Sequence[Keyword]], None] | None = None,
        list_devices: Callable[[], list] | None = None,
        switch_device: Callable[[object], None] | None = None,
        pace_range: tuple[int, int] | None = (100, 165),
    ) -> None:
        self.root = root
        self.pipeline = run.pipeline
        self.view = run.pipeline.subscribe()
        self.keywords = list(run.keywords)
        # Every keyword this window has known, with its aliases: a Resync carries names only.
        self._known = {k.name: k for k in self.keywords}
        self.settings = settings or OverlaySettings()
        self.on_settings = on_settings
        self.list_devices = list_devices
        self.switch_device = switch_device
        self.pace_range = pace_range  # None: no pace nudge
        self.result = None
        self.error: BaseException | None = None
        self.state = LiveState.start(self.keywords)
        self._quitting = False
        self._closed = False
        # Set from outside the Tk loop (a signal handler: Ctrl-C, kill); the next poll quits cleanly.
        self.quit_requested = threading.Event()
        self.left_loop = False  # set once the main loop is over: no window to ask any more
        self._drag = (0, 0)
        self._editor: KeywordDialog | None = None

        self._build_window()
        self._build_widgets()
        self._bind()
        self._place()
        self.root.after(POLL_MS, self._poll)

    @property
    def status(self) -> str:
        """The run's state as shown: "loading", "listening", "paused", … "finished", "error"."""
        return self.state.status

    # ------------------------------------------------------------------ window
    def _build_window(self) -> None:
        r = self.root
        r.title("voicecount")
        if r.tk.call("tk", "windowingsystem") == "aqua":
            # Borderless yet able to take key presses on macOS.
            r.tk.call("::tk::unsupported::MacWindowStyle", "style", r._w, "plain", "none")
        else:
            r.overrideredirect(True)
        r.attributes("-topmost", True)
        try:
            r.attributes("-alpha", self.settings.opacity)
        except tk.TclError:
            pass  # no compositor: opacity is best effort

    @property
    def theme(self) -> dict:
        t = dict(THEMES.get(self.settings.theme, THEMES["dark"]))
        if self.settings.foreground:
            t["fg"] = self.settings.foreground
        if self.settings.background:
            t["bg"] = self.settings.background
        return t

    def _build_widgets(self) -> None:
        t = self.theme
        size = self.settings.font_size
        self.big = tkfont.Font(family="Helvetica", size=size, weight="bold")
        self.name_font = tkfont.Font(family="Helvetica", size=max(10, size // 3), weight="bold")
        self.small = tkfont.Font(family="Helvetica", size=max(9, size // 4))
        self.frame = tk.Frame(self.root, bg=t["bg"], padx=14, pady=8)
        self.frame.pack(fill="both", expand=True)
        self.rows = tk.Frame(self.frame, bg=t["bg"])
        self.rows.pack(fill="x")
        self.count_labels: dict[str, tk.Label] = {}
        self.name_labels: dict[str, tk.Label] = {}
        self._build_rows()
        self.caption_var = tk.StringVar(value="")
        self.caption = tk.Label(
            self.frame,
            textvariable=self.caption_var,
            font=self.small,
            fg=t["dim"],
            bg=t["bg"],
            anchor="w",
            width=TEXT_CHARS,
        )
        if self.settings.caption:
            self.caption.pack(fill="x")
        # The coach's one live hint, shown only while the pace is out of range.
        self.nudge_var = tk.StringVar(value="")
        self.nudge = tk.Label(
            self.frame, textvariable=self.nudge_var, font=self.small, fg=t["pending"], bg=t["bg"], anchor="w"
        )
        status = tk.Frame(self.frame, bg=t["bg"])
        status.pack(fill="x")
        self.dot = tk.Canvas(status, width=DOT, height=DOT, bg=t["bg"], highlightthickness=0)
        self.dot_item = self.dot.create_oval(2, 2, 12, 12, fill=STATUS_COLOURS["loading"], outline="")
        self.dot.pack(side="left", anchor="n", pady=(2, 0))
        self.status_var = tk.StringVar(value=STATUS_TEXT["loading"])
        self.status_label = tk.Label(
            status, textvariable=self.status_var, font=self.small, fg=t["dim"], bg=t["bg"], anchor="w", justify="left"
        )
        self.status_label.pack(side="left", padx=(GAP, 0))
        self._wrap_status()
        self.menu = tk.Menu(self.root, tearoff=False)
        for action in ACTIONS:
            if action is None:
                self.menu.add_separator()
            else:
                label, shown, _, method = action
                self.menu.add_command(label=f"{label}   ({shown})", command=getattr(self, method))

    def _build_rows(self) -> None:
        t = self.theme
        for child in self.rows.winfo_children():
            child.destroy()
        self.count_labels, self.name_labels = {}, {}
        # One row per keyword, except fillers: one "fillers" row for all of them, so the
        # filler preset adds one quiet number, not five big ones.
        self.members: dict[str, tuple[str, ...]] = {}
        for kw in self.keywords:
            row = FILLER_ROW if is_filler(kw) else kw.name
            self.members[row] = (*self.members.get(row, ()), kw.name)
        for i, row in enumerate(self.members):
            name = tk.Label(self.rows, text=row, font=self.name_font, fg=t["dim"], bg=t["bg"], anchor="w")
            count = tk.Label(
                self.rows,
                text=str(self._count(row)),
                font=self.big,
                fg=t["fg"],
                bg=t["bg"],
                anchor="e",
            )
            name.grid(row=i, column=0, sticky="w", padx=(0, 16))
            count.grid(row=i, column=1, sticky="e")
            self.rows.grid_columnconfigure(1, weight=1)
            self.name_labels[row] = name
            self.count_labels[row] = count

    def _row(self, keyword: str) -> str:
        return next((row for row, names in self.members.items() if keyword in names), keyword)

    def _count(self, row: str) -> int:
        return sum(self.state.counts.get(name, 0) for name in self.members.get(row, (row,)))

    def _bind(self) -> None:
        r = self.root
        for w in (r, self.frame):
            w.bind("<ButtonPress-1>", self._drag_start)
            w.bind("<B1-Motion>", self._drag_move)
            w.bind("<ButtonRelease-1>", self._drag_end)
        # On the overlay's own widgets (the root's tag), not in the dialogs it opens.
        r.bind("<Button-3>", self._popup)
        r.bind("<Button-2>", self._popup)  # macOS right button
        r.bind("<Control-Button-1>", self._popup)
        for action in ACTIONS:
            if action is not None:
                _, _, keys, method = action
                fn = getattr(self, method)
                for key in keys:
                    r.bind(key if key.startswith("<") else f"<KeyPress-{key}>", lambda e, fn=fn: fn())
        r.protocol("WM_DELETE_WINDOW", self.quit)
        r.focus_force()

    def _place(self) -> None:
        r = self.root
        r.update_idletasks()
        w, h = r.winfo_reqwidth(), r.winfo_reqheight()
        x, y = self.settings.x, self.settings.y
        sw, sh = r.winfo_screenwidth(), r.winfo_screenheight()
        if x is None or y is None or not (0 <= x < sw - 20 and 0 <= y < sh - 20):
            x, y = sw - w - MARGIN, MARGIN  # top-right
        r.geometry(f"+{max(0, min(x, sw - w))}+{max(0, min(y, sh - h))}")
        self._size = (w, h)

    def _fit(self) -> None:
        """After a change of size (bigger, more keywords, a hint shown): grow away from the screen
        edges the window is near, so it stays in its corner and on screen."""
        r = self.root
        r.update_idletasks()
        w, h = r.winfo_reqwidth(), r.winfo_reqheight()
        old_w, old_h = self._size
        if (w, h) == (old_w, old_h):
            return
        self._size = (w, h)
        x, y = r.winfo_x(), r.winfo_y()
        sw, sh = r.winfo_screenwidth(), r.winfo_screenheight()
        # Tk knows the main screen only: a window on another monitor (x < 0, or past the main
        # screen's width) keeps its place there, only growing away from the nearer edge.
        on_main = x >= 0 and y >= 0 and x + old_w <= sw and y + old_h <= sh
        if x + old_w / 2 > sw / 2:
            x += old_w - w  # on the right half: the right edge stays
        if y + old_h / 2 > sh / 2:
            y += old_h - h  # on the lower half: the bottom stays
        if on_main:
            x, y = max(0, min(x, sw - w)), max(0, min(y, sh - h))
        r.geometry(f"+{x}+{y}")

    # ------------------------------------------------------------------ the poll loop
    def _poll(self) -> None:
        try:
            if self.quit_requested.is_set():
                self.quit()
            for _ in range(MAX_EVENTS_PER_POLL):
                if self._closed:
                    return
                ev = self.view.get(timeout=0)
                if ev is None:
                    break
                self.handle(ev)
            if not self._closed:
                self._fit()
        finally:
            # Tk swallows an exception in a callback: without this the overlay would freeze.
            if not self._closed:
                self.root.after(POLL_MS, self._poll)

    def handle(self, ev) -> None:
        """Show one pipeline event (main thread)."""
        self.state = self.state.apply(ev)
        if isinstance(ev, CountChange):
            self._show_count(ev.change.hit.keyword, ev.change.kind)
        elif isinstance(ev, (Caption, FinalText)):
            # What was heard last, as the web page shows it: a final that corrects a partial replaces it.
            heard = self.state.caption or self.state.final
            if heard:
                self.caption_var.set(self._newest(heard))
            if isinstance(ev, FinalText):
                self._show_pace()
        elif isinstance(ev, Progress):
            self._show_pace()
        elif isinstance(ev, (Ready, Status)):
            if self.state.status in STATUS_COLOURS:
                self._set_status(self.state.status, self.state.detail)
        elif isinstance(ev, (KeywordsChanged, Resync)):
            if isinstance(ev, KeywordsChanged):
                self._known.update((k.name, k) for k in ev.keywords)
            self._redraw()
        elif isinstance(ev, Finished):
            self.result = ev.result
            self._set_status("finished")
            if self._quitting:
                self._close()
        elif isinstance(ev, Failed):
            self._fail(ev.error)
            if self._quitting:
                self._close()

    def _redraw(self) -> None:
        """Everything from the state: after a keyword change, or after falling behind."""
        if [k.name for k in self.keywords] != list(self.state.keywords):
            self.keywords = [self._known.get(n, Keyword(n, (n,))) for n in self.state.keywords]
            self._build_rows()
        for row in self.count_labels:
            self.count_labels[row].configure(text=str(self._count(row)))
            self._recolour(row)
        self.caption_var.set(self._newest(self.state.caption))
        if self.state.status in STATUS_COLOURS:
            self._set_status(self.state.status, self.state.detail)
        self._show_pace()

    def _newest(self, heard: str) -> str:
        """The last words heard that fit the caption's width (the label would cut the newest ones)."""
        room = self.small.measure("0" * TEXT_CHARS)
        words = heard[-200:].split()
        while len(words) > 1 and self.small.measure(" ".join(words)) > room:
            words.pop(0)
        return " ".join(words)

    def _show_pace(self) -> None:
        # Only while speech is being heard: a pace from before the microphone was lost is stale.
        hearing = self.status in ("listening", "dropped")
        hint = nudge(self.state.wpm, *self.pace_range) if self.pace_range is not None and hearing else ""
        if hint == self.nudge_var.get():
            return
        self.nudge_var.set(hint)
        if hint:
            self.nudge.pack(fill="x", before=self.dot.master)
        else:
            self.nudge.pack_forget()

    def _show_count(self, name: str, kind: str) -> None:
        row = self._row(name)
        label = self.count_labels.get(row)
        if label is None:
            return
        t = self.theme
        label.configure(text=str(self._count(row)))
        if kind == "retracted":
            # Withdrawn visibly: a short red flash, then back to normal.
            label.configure(fg=t["retracted"])
            self.root.after(600, lambda: self._recolour(row))
        else:
            self._recolour(row)

    def _recolour(self, row: str) -> None:
        label = self.count_labels.get(row)
        if label is not None and label.winfo_exists():
            t = self.theme
            pending = any(self.state.pending.get(name) for name in self.members.get(row, (row,)))
            label.configure(fg=t["pending"] if pending else t["fg"])

    def _set_status(self, state: str, detail: str = "") -> None:
        self.dot.itemconfigure(self.dot_item, fill=STATUS_COLOURS.get(state, STATUS_COLOURS["error"]))
        text = STATUS_TEXT.get(state, state)
        self.status_var.set(f"{text} — {detail}" if detail else text)
        self._show_pace()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._set_status("error", error_text(error)[:120])

    # ------------------------------------------------------------------ user actions
    def toggle_pause(self) -> None:
        if self.state.paused:
            self.pipeline.resume()
        else:
            self.pipeline.pause()

    def undo(self) -> None:
        self.pipeline.undo()

    def reset(self, confirm: bool = True) -> None:
        if self.status in ("finished", "error"):
            return  # the session is saved: nothing counts any more
        if confirm and not messagebox.askyesno("voicecount", "Reset every count to zero?", parent=self.root):
            return
        self.pipeline.reset()

    def toggle_caption(self) -> None:
        self.settings.caption = not self.settings.caption
        if self.settings.caption:
            self.caption.pack(fill="x", before=self.dot.master)
        else:
            self.caption.pack_forget()
        self._fit()
        self._save()

    def toggle_theme(self) -> None:
        self.settings.theme = "light" if self.settings.theme == "dark" else "dark"
        t = self.theme
        for w in (self.frame, self.rows, self.dot.master, self.dot):
            w.configure(bg=t["bg"])
        for w in (self.caption, self.status_label, *self.name_labels.values()):
            w.configure(bg=t["bg"], fg=t["dim"])
        self.nudge.configure(bg=t["bg"], fg=t["pending"])
        for name in self.count_labels:
            self.count_labels[name].configure(bg=t["bg"])
            self._recolour(name)
        self._save()

    def bigger(self) -> None:
        self.resize(+4)

    def smaller(self) -> None:
        self.resize(-4)

    def resize(self, step: int) -> None:
        self.settings.font_size = max(FONT_SIZES[0], min(FONT_SIZES[1], self.settings.font_size + step))
        size = self.settings.font_size
        self.big.configure(size=size)
        self.name_font.configure(size=max(10, size // 3))
        self.small.configure(size=max(9, size // 4))
        self._wrap_status()
        self.caption_var.set(self._newest(self.state.caption or self.state.final))
        self._fit()
        self._save()

    def _wrap_status(self) -> None:
        """Long details ("… stopped delivering audio — the session is kept; …") wrap at the
        caption's width, in pixels of the current font, instead of stretching the overlay."""
        self.status_label.configure(wraplength=self.small.measure("0" * TEXT_CHARS) - DOT - GAP)

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        """Count these keywords from now on (applied without a restart)."""
        # The editor's lines are names and aliases: a filler of the user's set stays one.
        was_filler = {k.name for k in self._known.values() if k.filler}
        self.keywords = [replace(k, filler=True) if k.name in was_filler else k for k in keywords]
        self._known.update((k.name, k) for k in self.keywords)
        self._build_rows()
        for k in self.keywords:
            self._recolour(k.name)
        self.pipeline.set_keywords(self.keywords)
        self._fit()
        self._save()

    def edit_keywords(self) -> None:
        if self._editor is not None and self._editor.top.winfo_exists():
            self._editor.top.lift()  # one editor: a second would save over the first
            return
        self._editor = KeywordDialog(self.root, self.keywords, self.set_keywords)

    def choose_microphone(self) -> None:
        if self.list_devices is None or self.switch_device is None:
            self._set_status(self.status, "reading a file: there is no microphone to switch")
            return
        if self.status in ("loading", "finished", "error"):
            return  # nothing to switch yet, or any more (a device opened now would stay open)
        try:
            devices = self.list_devices()
        except VoicecountError as e:
            messagebox.showerror("voicecount", str(e), parent=self.root)
            return
        if not devices:
            messagebox.showerror(
                "voicecount",
                "No microphone found. On macOS allow Terminal/Python in System Settings → Privacy & Security → Microphone.",
                parent=self.root,
            )
            return
        DeviceDialog(self.root, devices, self._switch)

    def _switch(self, device) -> None:
        try:
            self.switch_device(device)
        except VoicecountError as e:
            messagebox.showerror("voicecount", str(e), parent=self.root)

    def quit(self) -> None:
        """End the session cleanly: the run finalises and saves, then the window closes."""
        if self._quitting:
            return
        self._quitting = True
        self.pipeline.stop()  # the run ends and is saved; the look was saved when it changed
        if self.status == "loading" or self.result is not None or self.error is not None:
            self._close()  # nothing heard yet, or already over: no need to wait
            return
        self._set_status(self.status, "saving…")

    def _close(self) -> None:
        self._closed = True
        self.view.close()
        self.root.destroy()

    # ------------------------------------------------------------------ dragging and settings
    def _popup(self, event) -> None:
        try:
            self.menu.tk_popup(event.x_root, event.y_root)
        finally:
            self.menu.grab_release()

    def _drag_start(self, event) -> None:
        self._drag = (event.x_root - self.root.winfo_x(), event.y_root - self.root.winfo_y())

    def _drag_move(self, event) -> None:
        dx, dy = self._drag
        self.root.geometry(f"+{event.x_root - dx}+{event.y_root - dy}")

    def _drag_end(self, event) -> None:
        self.settings.x, self.settings.y = self.root.winfo_x(), self.root.winfo_y()
        self._save()

    def _save(self) -> None:
        if self.on_settings is not None:
            try:
                self.on_settings(self.settings, self.keywords)
            except VoicecountError as e:
                self._set_status(self.status, f"settings not saved: {e.problem}")


class KeywordDialog:
    """Edit keywords as text, one per line: NAME or NAME=alias,alias."""

    def __init__(self, parent: tk.Tk, keywords: Sequence[Keyword], apply: Callable[[list[Keyword]], None]) -> None:
        self.apply = apply
        self.top = tk.Toplevel(parent)
        self.top.title("voicecount — keywords")
        self.top.attributes("-topmost", True)
        tk.Label(self.top, text="One keyword per line: NAME or NAME=alias, alias (phrases allowed)", anchor="w").pack(
            fill="x", padx=8, pady=(8, 2)
        )
        self.text = tk.Text(self.top, width=60, height=8)
        self.text.pack(fill="both", expand=True, padx=8)
        self.text.insert("1.0", "\n".join(keyword_spec(k) for k in keywords))
        self.error = tk.StringVar()
        tk.Label(self.top, textvariable=self.error, fg="#c0392b", anchor="w", wraplength=420).pack(fill="x", padx=8)
        buttons = tk.Frame(self.top)
        buttons.pack(fill="x", padx=8, pady=8)
        tk.Button(buttons, text="Apply", command=self.ok).pack(side="right")
        tk.Button(buttons, text="Cancel", command=self.top.destroy).pack(side="right", padx=4)
        self.top.bind("<Escape>", lambda e: self.top.destroy())
        self.text.focus_set()

    def ok(self) -> None:
        try:
            keywords = parse_keyword_lines(self.text.get("1.0", "end"))
        except VoicecountError as e:
            self.error.set(str(e))
            return
        self.top.destroy()
        self.apply(keywords)


class DeviceDialog:
    """Pick a microphone, or a monitor/loopback of what the computer plays, from a list."""

    def __init__(self, parent: tk.Tk, devices: list, choose: Callable[[object], None]) -> None:
        self.devices, self.choose = devices, choose
        self.top = tk.Toplevel(parent)
        self.top.title("voicecount — microphone")
        self.top.attributes("-topmost", True)
        self.list = tk.Listbox(self.top, width=60, height=min(12, max(3, len(devices))))
        for d in devices:
            self.list.insert("end", describe(d))
        self.list.pack(fill="both", expand=True, padx=8, pady=8)
        buttons = tk.Frame(self.top)
        buttons.pack(fill="x", padx=8, pady=(0, 8))
        tk.Button(buttons, text="Use", command=self.ok).pack(side="right")
        tk.Button(buttons, text="Cancel", command=self.top.destroy).pack(side="right", padx=4)
        self.list.bind("<Double-Button-1>", lambda e: self.ok())
        self.top.bind("<Escape>", lambda e: self.top.destroy())
        self.list.focus_set()

    def ok(self) -> None:
        sel = self.list.curselection()
        if not sel:
            return
        self.top.destroy()
        self.choose(self.devices[sel[0]])
