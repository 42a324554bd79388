"""Settings file and keyword files: defaults, round trip, and errors that name the line."""

from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import ROOT, run_cli

from voicecount import config
from voicecount.errors import ConfigError
from voicecount.matcher import DEFAULT_KEYWORDS, Keyword, Word


def write(text: str):
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults(voicecount_home):
    s = config.load()
    assert s.keywords == list(DEFAULT_KEYWORDS) and s.engine == "whisper" and s.overlay.theme == "dark"
    assert str(config.config_path()).startswith(str(voicecount_home))


def test_save_and_load_round_trip_user_only(voicecount_home):
    s = config.Settings(keywords=[Keyword("LLM", ("LLM", "llm", "large language model"))], engine="vosk", model="/m")
    s.coach = config.CoachSettings(pace_min=120, pace_max=180, pause=1.5, nudge=False)
    s.fillers = [Keyword("um", ("um", "umm"), filler=True), Keyword("uh", ("uh",), filler=True)]
    s.overlay.font_size = 72
    s.overlay.x, s.overlay.y = 100, 40
    path = config.save(s)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = config.load()
    assert back == s


def test_saving_a_change_keeps_the_users_own_file_as_written(voicecount_home):
    """The overlay saves its place when dragged: a hand-written file keeps its comments and layout."""
    mine = (
        "# my settings for the meetup\n"
        'engine = "whisper"   # the accurate one\n\n'
        "[[keywords]]\n"
        'name = "AI"   # the classic\n'
        'aliases = ["ai", "a i", "artificial intelligence"]\n\n'
        "[overlay]\n"
        "# big, for the back row\n"
        "font_size = 72\n"
    )
    path = write(mine)
    s = config.load()
    s.overlay.x, s.overlay.y = 100, 40  # dragged
    config.save(s)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(mine.rstrip("\n")) and "x = 100" in text and "y = 40" in text
    assert "fillers" not in text and "pace_min" not in text  # defaults are not written out
    assert config.load() == s
    s.keywords.append(Keyword("LLM", ("LLM", "llm")))  # edited in the overlay's keyword dialog
    config.save(s)
    assert config.load() == s and "# my settings for the meetup" in path.read_text(encoding="utf-8")


def test_an_alias_with_a_comma_stays_one_phrase(voicecount_home):
    # Aliases were joined into "name=a,b" and split again: "well, actually" became "well" and
    # "actually", and every "well" counted.
    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text(
        '[[keywords]]\nname = "well actually"\naliases = ["well, actually"]\n[[keywords]]\nname = "E=mc2"\n',
        encoding="utf-8",
    )
    s = config.load()
    assert s.keywords[0] == Keyword("well actually", ("well actually", "well, actually"))
    assert s.keywords[1].name == "E=mc2"
    assert config.load() == s and (config.save(s) and config.load() == s)


@pytest.mark.parametrize(
    "text, fragments",
    [
        ('engine = "whisper"\nenigne = "vosk"\n', ["line 2", "unknown setting 'enigne'"]),
        ('engine = "whisper"\nmodel = \n', ["not valid TOML", "line 2"]),
        ('[[keywords]]\nname = "AI"\nalias = ["ai"]\n', ["line 3", "unknown key 'alias'"]),
        ('[[keywords]]\nname = ""\n', ["empty keyword"]),
        ('[[keywords]]\nname = "AI"\n[[keywords]]\nname = "..."\n', ["line 4", "config edit"]),
        ('engine = "whsiper"\n', ["line 1", "engine 'whsiper' is unknown", "whisper, vosk"]),
        ('backend = "nope"\n', ["line 1", "backend 'nope' is unknown", "sounddevice"]),
        ('[[keywords]]\nname = "AI"\n[[keywords]]\nname = "ai"\n', ["given twice"]),
        ('[overlay]\nfont_size = "big"\n', ["line 2", "font_size must be a whole number"]),
        ('[overlay]\ntheme = "neon"\n', ["theme 'neon'", "dark, light"]),
        ("[overlay]\nopacity = 0.01\n", ["opacity", "0.2"]),
        ("[overlay]\nwidth = 3\n", ["unknown overlay setting 'width'"]),
        ("keywords = 3\n", ["keywords must be a list"]),
        ("[coach]\npace_min = 200\npace_max = 150\n", ["pace range 200–150", "pace_min < pace_max"]),
        ("[coach]\npause = 0\n", ["pause 0 is out of range"]),
        ("[coach]\nspeed = 3\n", ["unknown coach setting 'speed'"]),
        ('[coach]\nnudge = "yes"\n', ["nudge must be true or false"]),
        ('[[fillers]]\nname = "um"\nalias = ["umm"]\n', ["unknown key 'alias'"]),
    ],
)
def test_bad_config_names_the_line_and_the_fix(text, fragments):
    write(text)
    with pytest.raises(ConfigError) as e:
        config.load()
    msg = str(e.value)
    assert " — " in msg and str(config.config_path()) in msg and "--keyword" not in msg
    for f in fragments:
        assert f in msg


def test_a_folder_where_the_settings_file_belongs_is_an_error(voicecount_home):
    config.config_path().mkdir(parents=True)
    with pytest.raises(ConfigError, match="is not a file"):
        config.load()


def test_config_that_is_not_utf8(voicecount_home):
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'engine = "wh\xffisper"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load()


def test_keywords_file(tmp_path):
    f = tmp_path / "kw.txt"
    f.write_text("# what to count\nAI\nLLM=llm,large language model  # the other one\n\n", encoding="utf-8")
    kws = config.read_keywords_file(f)
    assert [k.name for k in kws] == ["AI", "LLM"]
    assert "large language model" in kws[1].aliases


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"AI\n=oops\n", "line 2"),
        (b"\xff\xfe\x00A\x00I", "not UTF-8"),
        (b"# nothing\n", "no keywords"),
        (b"AI\nai\n", "given twice"),
    ],
)
def test_bad_keywords_file(tmp_path, content, fragment):
    f = tmp_path / "kw.txt"
    f.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment):
        config.read_keywords_file(f)


def test_flags_replace_configured_keywords():
    configured = [Keyword("Rust", ("rust",))]
    assert config.merge_keywords(None, None, configured) == configured
    assert [k.name for k in config.merge_keywords(["Go"], None, configured)] == ["Go"]


def test_config_cli_path_show_edit(voicecount_home, tmp_path):
    proc = run_cli("config", "path", env={"VOICECOUNT_HOME": str(voicecount_home)})
    assert proc.stdout.strip() == str(config.config_path())
    proc = run_cli("config", "show", env={"VOICECOUNT_HOME": str(voicecount_home)})
    assert 'engine = "whisper"' in proc.stdout and "[[keywords]]" in proc.stdout
    # "edit" with an editor that appends a mistake: reported with its line, exit != 0.
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\necho "colour = 1" >> "$1"\n')
    editor.chmod(0o755)
    proc = run_cli("config", "edit", env={"VOICECOUNT_HOME": str(voicecount_home), "VISUAL": str(editor)})
    assert proc.returncode == 1 and "'colour'" in proc.stderr and " line " in proc.stderr
    assert "Traceback" not in proc.stderr
    # No $VISUAL or $EDITOR: a terminal editor on PATH (macOS has nano), not TextEdit through
    # "open -W", which waits for the app to quit and writes curly quotes.
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "nano").write_text('#!/bin/sh\necho "# edited by nano" >> "$1"\n')
    (bin_ / "nano").chmod(0o755)
    env = {"VOICECOUNT_HOME": str(voicecount_home), "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}
    proc = run_cli("config", "edit", env=env, unset=("VISUAL", "EDITOR"))
    assert proc.returncode == 1 and "'colour'" in proc.stderr  # the earlier mistake is still there
    assert config.config_path().read_text().endswith("# edited by nano\n")
    # An editor that fails is not followed by "is valid".
    config.config_path().write_text('engine = "whisper"\n')
    (bin_ / "nano").write_text("#!/bin/sh\nexit 3\n")
    proc = run_cli("config", "edit", env=env, unset=("VISUAL", "EDITOR"))
    assert proc.returncode == 1 and "failed (exit status 3)" in proc.stderr and "is valid" not in proc.stderr


def test_a_broken_config_stops_count_with_one_line(voicecount_home):
    write("engine = 5\n")
    proc = run_cli("count", "whatever.wav", env={"VOICECOUNT_HOME": str(voicecount_home)})
    assert proc.returncode == 1
    assert proc.stderr.count("voicecount:") == 1 and "engine must be text in quotes" in proc.stderr


def test_preset_fillers_adds_the_configured_filler_set(voicecount_home):
    write('[[fillers]]\nname = "um"\naliases = ["um", "umm"]\n[[fillers]]\nname = "hmm"\n')
    proc = run_cli("count", str(ROOT / "voicecount" / "assets" / "sample-ai-talk.wav"), "--preset", "fillers", "--json")
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)["counts"]) == ["AI", "um", "hmm"]


def test_the_hash_of_c_sharp_is_no_comment():
    keywords = config.parse_keyword_lines("C#=c sharp,c#   # the language\n# a comment line\nF#\n")
    assert [(k.name, k.aliases) for k in keywords] == [("C#", ("C#", "c sharp", "c#")), ("F#", ("F#",))]


def test_an_alias_with_a_comma_survives_the_keyword_editor():
    """The overlay's dialog writes each keyword as a line and reads it back: nothing may change."""
    from voicecount.matcher import keyword_spec, make_keyword

    keywords = [
        make_keyword("Hello", ["hello, world", 'say "hi"', "hey"]),
        make_keyword("LLM", ["large language model"]),
    ]
    text = "\n".join(keyword_spec(k) for k in keywords)
    assert config.parse_keyword_lines(text) == keywords
    assert config.parse_keyword_lines("LLM=llm, large language model")[0].aliases == (
        "LLM",
        "llm",
        "large language model",
    )


def test_a_filler_of_the_users_own_set_is_counted_as_a_filler(voicecount_home):
    """[[fillers]] named outside the built-in sounds ("ehm") got neither the whole-word rule, the
    filler prompt, nor the coach's filler mode once saved; the overlay's editor turned it into a keyword."""
    from voicecount import cli, session
    from voicecount.fillers import FILLER_PROMPT, is_filler
    from voicecount.matcher import find_matches, keyword_prompt, parse_keyword
    from voicecount.overlay import OverlaySettings
    from voicecount.session import SessionWriter

    write('[[keywords]]\nname = "AI"\n\n[[fillers]]\nname = "ehm"\naliases = ["ehm", "ähm"]\n')
    ehm = config.load().fillers
    assert [is_filler(k) for k in ehm] == [True]
    keywords = [*config.load().keywords, *ehm]
    assert keyword_prompt(keywords).endswith(FILLER_PROMPT)
    said = [Word(t, i * 0.4, i * 0.4 + 0.3) for i, t in enumerate(["Ehm,", "the", "ehm-like", "unit,", "ähm,", "AI."])]
    assert [m.text for m in find_matches(said, keywords)] == ["Ehm,", "ähm,", "AI."]

    w = SessionWriter.create("count", "own-fillers", "whisper", "tiny.en", keywords)
    w.final(said)
    w.close({"AI": 1, "ehm": 2}, 3.0)
    meta = session.load(w.meta.id).meta
    assert [k.filler for k in meta.keyword_objects()] == [False, True]  # kept in the session

    # The keyword editor gives names and aliases; the saved file keeps keywords, not the filler set.
    save = cli.overlay_hooks(None, config.load(), 1.0)["on_settings"]
    save(OverlaySettings(), [*keywords, parse_keyword("LLM")])
    assert [k.name for k in config.load().keywords] == ["AI", "LLM"]
    assert [k.name for k in config.load().fillers] == ["ehm"]


def test_a_keyword_table_without_a_name_says_which_and_where(voicecount_home):
    write('[[keywords]]\nname = "AI"\n\n[[keywords]]  # mine\naliases = ["llm"]\n')
    with pytest.raises(ConfigError, match=r"line 4: a keyword has no name — add name ="):
        config.load()


def test_files_saved_with_a_bom_read_as_written(voicecount_home, tmp_path):
    """Notepad's "UTF-8 with BOM": the config was "invalid statement at line 1" and a keywords
    file's first line, a comment, became a keyword."""
    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_bytes('\ufeff[[keywords]]\nname = "AI"\n'.encode())
    assert [k.name for k in config.load().keywords] == ["AI"]
    listed = tmp_path / "keywords.txt"
    listed.write_bytes("\ufeff# my list\nLLM\n".encode())
    assert [k.name for k in config.merge_keywords(None, str(listed), [])] == ["LLM"]


def test_a_keyword_in_capitals_named_like_a_filler_keeps_the_filler_beside_it(voicecount_home):
    """-k ER --preset fillers dropped the filler er, so the keyword ER counted every "er" said."""
    from argparse import Namespace

    from voicecount import cli
    from voicecount.matcher import find_matches

    def settings(*keywords):
        flags = {"keywords_file": None, "engine": None, "model": None, "device": None, "backend": None}
        return cli._settings(Namespace(keyword=list(keywords), preset=["fillers"], **flags)).keywords

    assert [k.name for k in settings("um")] == ["um", "uh", "er", "ah", "hmm"]  # the filler already
    both = settings("ER")
    assert [k.name for k in both] == ["ER", "um", "uh", "er", "ah", "hmm"]
    said = [Word(t, i * 0.4, i * 0.4 + 0.3) for i, t in enumerate("the ER was full, er, yes".split())]  # noqa: SIM905
    assert [m.keyword for m in find_matches(said, both)] == ["ER", "er"]


def test_a_new_settings_file_holds_only_what_was_changed(voicecount_home, monkeypatch):
    """The overlay's first save wrote every default, and so pinned the built-in fillers for good."""
    s = config.load()
    s.overlay.font_size = 60
    config.save(s)
    text = config.config_path().read_text()
    assert "font_size = 60" in text and "fillers" not in text and "keywords" not in text
    assert config.load().overlay.font_size == 60 and config.load().fillers == config.Settings().fillers
    # Interrupted mid-write (a second Ctrl-C): the file as it was, no temporary file left.
    s.overlay.font_size = 72

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(config.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        config.save(s)
    assert config.load().overlay.font_size == 60
    assert [p.name for p in config.config_path().parent.iterdir()] == ["config.toml"]


def test_keyword_lines_keep_a_quoted_hash_and_what_the_editor_shows_reads_back():
    from voicecount.matcher import keyword_spec, parse_keyword

    [x, c] = config.parse_keyword_lines('X="number #1", "a, b"  # a note\nC#\n')
    assert x.aliases == ("X", "number #1", "a, b") and c.name == "C#"
    for spec in ('P="plan #2",plan b', '"number #1"', '"a=b"', "1,000"):
        k = parse_keyword(spec)
        assert config.parse_keyword_lines(keyword_spec(k)) == [k], spec  # the editor's line, applied unchanged
    assert config.parse_keyword_lines('12" vinyl  # a note')[0].name == '12" vinyl'  # an inch mark is no quote
