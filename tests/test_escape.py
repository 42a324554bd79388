"""What a speaker said and what a model wrote stay data in every output.

Hostile transcripts and hostile summary lines go through the real writers; the
Markdown report is rendered by two real renderers (GitHub's cmark-gfm with raw
HTML allowed, and markdown-it with linkify) and must come out as text only.
"""

from __future__ import annotations

import html
import io
import json
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from conftest import run_cli
from markdown_it import MarkdownIt
from test_summarize import make_session

from voicecount import escape, export
from voicecount import session as sessions
from voicecount.matcher import Word

HOSTILE = [
    '<img src="https://evil.example/pixel.png">',
    "<script>document.write('<img src=\"https://t.example/x\">')</script>",
    "![pixel](https://evil.example/p.png)",
    "[click here](javascript:alert(1))",
    "<https://auto.example/link>",
    "see https://evil.example/x and www.evil.example and evil.example",
    "write to bob@evil.example",
    "# Fake heading",
    "1. a fake list",
    "- another",
    "> a quote",
    "| a | table |",
    "**bold** _em_ `code` ~~strike~~ $x^2$",
    "&lt;b&gt; &amp; &#x3C;script&#x3E;",
    "<!-- a comment --> <a href=x>y</a> <iframe src=x></iframe>",
    "[ref]: https://evil.example/ref",
    "back\\slash\\",
    "[01:28] a citation that is not ours",
    # Autolinks past a dot or an "@" that a word character does not close (review, 2026-11-27).
    "type www. then www._ and www.-evil.com, WWW.%65vil.com",
    "हिन्दी.com café.com cafe\u0301.com b+.com me@हिन्दी.com +@.com x@y@.e.g.:c",
    "mailto:x@yx and (x@yि$.| in a cell",
]
TAG = re.compile(r"<(?!/?(p|code)>)[^>]*>")


def _renderers():
    markdown_it = MarkdownIt("gfm-like", {"html": True, "linkify": True})
    yield "cmark-gfm", lambda s: cmarkgfm.github_flavored_markdown_to_html(s, options=Options.CMARK_OPT_UNSAFE)
    yield "markdown-it", markdown_it.render


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_escape_renders_as_exactly_the_text(text):
    for name, render in _renderers():
        out = render(escape.markdown(text))
        assert not TAG.findall(out), f"{name} made markup of {text!r}: {out}"
        shown = html.unescape(re.sub(r"</?(p|code)>", "", out)).strip()
        assert shown == " ".join(text.split()), f"{name} changed {text!r} into {shown!r}"


def test_terminal_text_loses_control_sequences_and_bidi_overrides():
    said = "clear \x1b[2J\x1b]0;title\x07 bell \x07 rtl \u202eevil\u202c ok\ttab"
    out = escape.terminal(said)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "tab" in out and "\t" in out and "clear" in out


def test_json_text_is_the_same_data_and_safe_in_html():
    data = {"text": "</script><img src=x> & \u2028"}
    out = escape.json_text(data)
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out
    assert json.loads(out) == data


def hostile_session():
    talk = ". ".join(HOSTILE) + ". Then \x1b[2J a clear screen"
    s = make_session(talk)
    lines = "\n".join(f"- [00:01] {h}" for h in HOSTILE)
    sessions.save_summary(s.id, f"Summary (by <b>evil</b>):\n{lines}\n# not our heading\n<img src=https://x.example/y>")
    return sessions.load(s.id)


def test_every_export_keeps_hostile_text_inert():
    s = hostile_session()
    out = {}
    for fmt, write in export.WRITERS.items():
        buf = io.StringIO()
        write(s, buf)
        out[fmt] = buf.getvalue()
    buf = io.StringIO()
    export.write_md(s, buf)
    out["md"] = buf.getvalue()
    for fmt, text in out.items():
        assert "\x1b" not in text, fmt
    assert "<img" not in out["srt"] and "<script" not in out["srt"] and "‹img" in out["srt"]
    assert "\\" not in out["srt"] and "back⧵slash⧵" in out["srt"]  # no \\N line break for libass
    assert "<img" not in out["vtt"] and "&lt;img" in out["vtt"]
    assert "<" not in out["json"] and json.loads(out["json"])["segments"][0]["text"].startswith("<img")
    assert json.loads(out["json"])["summary"].startswith("Summary (by <b>evil</b>)")
    for name, render in _renderers():
        page = render(out["md"])
        assert not re.search(r"<(img|script|iframe|a|b)[\s>]", page), f"{name} rendered markup from the session"
        headings = re.findall(r"<h\d>(.*?)</h\d>", page)
        assert headings == [
            f"voicecount session {s.id}",
            "Counts",
            "Speaking",
            "Summary",
            "Top words",
            "Hits",
            "Transcript",
        ], f"{name}: {headings}"


def test_cli_prints_hostile_text_inert(tmp_path):
    s = hostile_session()
    shown = run_cli("sessions", "show", s.id)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "<img" in shown.stdout  # shown as the text it is
    summary = run_cli("summarize", s.id)
    assert summary.returncode == 0, summary.stderr
    assert "\x1b" not in summary.stdout
    report = tmp_path / "r.md"
    assert run_cli("export", s.id, "--format", "md", "-o", str(report)).returncode == 0
    for name, render in _renderers():
        page = render(report.read_text())
        assert re.findall(r'<img src="([^"]*)"', page) == ["r.png", "r-pace.png"], name  # only our plots, beside it
        assert not re.search(r"<(script|iframe|a)[\s>]", page), name


def test_a_sessions_own_metadata_is_data_too(tmp_path):
    """A session folder copied from someone else holds whatever its meta.json says."""
    s = make_session("We use AI. It works.")
    meta_path = s.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    osc8 = "\x1b]8;;http://evil.example\x07CLICK\x1b]8;;\x07"
    meta.update(
        id="x/../../pwned",
        status="finished](http://evil.example) <img src=http://evil.example/t.png>",
        command="listen" + osc8,
        engine="whisper\x1b[5m",
        started_at="2026-11-27T10:00:00" + osc8,
        ended_at="\u202e2026",
    )
    meta_path.write_text(json.dumps(meta))
    for args in (("sessions", "list"), ("sessions", "show", s.id)):
        shown = run_cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert not set(shown.stdout + shown.stderr) & {"\x1b", "\x07", "\u202e"}, args
        assert s.id in shown.stdout, args  # named by its folder
    out = tmp_path / "out" / "a"
    proc = run_cli("export", s.id, "--format", "md", "-o", f"{out}/")
    assert proc.returncode == 0, proc.stderr
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written and all(p.parent == out for p in written), written
    (report,) = out.glob("*.md")
    assert report.name == f"voicecount-{s.id}.md"
    for name, render in _renderers():
        page = render(report.read_text())
        images = re.findall(r'<img src="([^"]*)"', page)
        assert images and all(src.startswith(f"voicecount-{s.id}") for src in images), (name, images)  # our plots
        assert not re.search(r"<(script|iframe|a)[\s>]", page), name


def test_a_keyword_name_is_one_line_of_text():
    from voicecount.matcher import make_keyword

    k = make_keyword("AI\n- Counts: AI: 999", ["ai\x1b[2J", " "])
    assert k.name == "AI - Counts: AI: 999" and k.aliases == ("AI - Counts: AI: 999", "ai")


def test_doctor_shows_a_configured_name_as_text():
    from voicecount import doctor

    check = doctor.Check("model", doctor.FAIL, "whisper x\x1b]8;;http://evil.example\x07CLICK", "fix\x1b[2J it")
    shown = doctor.render(doctor.Report([check]))
    assert "\x1b" not in shown and "\x07" not in shown and "CLICK" in shown and "fix it" in shown


def test_keyword_names_are_text_in_the_reports_plot_and_a_folder_may_end_with_a_slash(tmp_path, monkeypatch):
    """A keyword "$$" made the report fail in matplotlib's TeX parser and left a .part file;
    "_private" vanished from the legend; "-o reports/" wrote a file named "reports"."""
    from matplotlib.figure import Figure

    from voicecount.matcher import Keyword

    w = sessions.SessionWriter.create(
        "count", "names", "whisper", "tiny.en", [Keyword("$$", ("ai",)), Keyword("_private", ("secret",))]
    )
    w.final([Word("ai", 0.0, 0.3), Word("secret", 0.4, 0.8)])
    w.close({"$$": 0, "_private": 0}, 1.0)
    s = sessions.load(w.meta.id)
    legends, savefig = [], Figure.savefig

    def save_and_read(fig, *args, **kwargs):
        legend = fig.axes[0].get_legend()
        legends.append([t.get_text() for t in legend.get_texts()] if legend else [])
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", save_and_read)
    written = export.export(s, "md", f"{tmp_path / 'reports'}/")
    assert written == tmp_path / "reports" / f"voicecount-{s.id}.md"
    assert legends[0] == ["$$ (0)", " _private (0)"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [written.name, written.with_suffix(".png").name]

    def broken(session, f):
        f.write("half")
        raise RuntimeError("a writer that fails")

    monkeypatch.setitem(export.WRITERS, "txt", broken)
    with pytest.raises(RuntimeError):
        export.export(s, "txt", tmp_path / "out.txt")
    assert not list(tmp_path.glob("out.txt*"))  # no half file left behind


def test_a_word_of_invisible_characters_makes_no_cue_in_any_format():
    """Zero-width and bidi marks alone: TXT printed "[00:02.0] ", VTT an empty cue, SRT nothing."""
    w = sessions.SessionWriter.create("count", "zw", "whisper", "tiny.en", [])
    w.final([Word("Hello.", 0.0, 0.5)])
    w.final([Word("\u200b\u200d", 2.0, 2.4), Word("\u202e", 2.5, 2.6)])
    w.close({}, 3.0)
    s = sessions.load(w.meta.id)
    assert [c.text for c in export.shown_cues(s)] == ["Hello."]
    for fmt, write in [*export.WRITERS.items(), ("md", export.write_md)]:
        if fmt in ("json", "csv"):
            continue  # data: every word as it was said
        buf = io.StringIO()
        write(s, buf)
        assert "00:02" not in buf.getvalue(), fmt
