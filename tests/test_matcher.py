"""The keyword matcher: aliases, word boundaries, provisional → confirmed, retraction, no double counts."""

from __future__ import annotations

import pytest

from voicecount.errors import ConfigError
from voicecount.matcher import (
    DEFAULT_KEYWORDS,
    Keyword,
    KeywordCounter,
    Word,
    find_matches,
    keyword_prompt,
    parse_keyword,
    tokens,
)


def words(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    """Words of ``text`` spaced ``step`` seconds apart from ``start``."""
    return [Word(w, start + i * step, start + i * step + step * 0.8) for i, w in enumerate(text.split())]


def names(text: str, keywords=DEFAULT_KEYWORDS) -> list[str]:
    return [m.text for m in find_matches(words(text), keywords)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("This talk is about AI in the editor.", ["AI"]),
        ("what is A.I. anyway", ["A.I."]),
        ("the AI's answer", ["AI's"]),
        ("many AIs were tested", ["AIs"]),
        ("ai, ai; AI!", ["ai,", "ai;", "AI!"]),
        ("a I model", ["a I"]),
        ("Artificial Intelligence is not new", ["Artificial Intelligence"]),
        ("intelligence, artificial or not", []),  # words out of order are not the phrase
        ("I said hi to everyone", []),
        ("OpenAI released a model", []),
        ("the air is aired", []),
        ("Aye, the sailors said", []),
        ("My eye is red", []),
        # A phrase does not run across a full stop or a comma: "A" ends one sentence, "I" starts the next.
        ("now for Q and A. I have time", []),
        ("that was plan A, I think", []),
        ("it is a, I mean, small", []),
        ("we use A. I. daily", ["A. I."]),  # a spelled initial's dots are no sentence end
        ("the artificial. Intelligence is", []),
        ("", []),
    ],
)
def test_default_ai_aliases_and_word_boundaries(text, expected):
    assert names(text) == expected


def test_tokens_normalise_case_punctuation_possessive_and_hyphens():
    assert tokens("A.I.") == ["ai"]
    assert tokens("AI's") == ["ai"]
    assert tokens("Open-AI") == ["open", "ai"]
    assert tokens("  «Hello», WORLD!  ") == ["hello", "world"]
    assert tokens("Ａｉ") == ["ai"]  # full-width letters, as some engines print them
    assert tokens("Pokémon café") == tokens("Pokemon cafe") == ["pokemon", "cafe"]  # accents, as search ignores them
    assert names("we love Pokémon.", [parse_keyword("Pokemon")]) == ["Pokémon."]
    # Other scripts keep their marks: a Devanagari vowel sign or a kana's dakuten makes another word.
    assert tokens("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert tokens("ガス") != tokens("カス")


def test_phrase_across_words_keeps_times_of_first_and_last_word():
    ws = [Word("about", 1.0, 1.2), Word("artificial", 1.3, 1.8), Word("intelligence.", 1.9, 2.5)]
    (m,) = find_matches(ws, DEFAULT_KEYWORDS)
    assert (m.keyword, m.start, m.end, m.text) == ("AI", 1.3, 2.5, "artificial intelligence.")


def test_longest_alias_wins_and_is_counted_once():
    kws = [Keyword("AI", ("ai", "artificial intelligence")), Keyword("intel", ("intelligence",))]
    ms = find_matches(words("artificial intelligence and intelligence"), kws)
    assert [(m.keyword, m.text) for m in ms] == [("AI", "artificial intelligence"), ("intel", "intelligence")]


def test_custom_keywords_with_multiword_aliases():
    kws = [parse_keyword("LLM=llm,large language model"), parse_keyword("GPU")]
    ms = find_matches(words("a large language model on a GPU, an LLM on two GPUs"), kws)
    assert [m.keyword for m in ms] == ["LLM", "GPU", "LLM", "GPU"]  # "GPUs": an acronym's plural is itself


@pytest.mark.parametrize("spec", ["", "  ", "=", "...", "=a,b"])
def test_empty_keyword_is_an_error_that_says_how_to_fix_it(spec):
    with pytest.raises(ConfigError) as e:
        parse_keyword(spec)
    assert "empty keyword" in str(e.value) and "--keyword" in str(e.value)


def test_parse_keyword_ai_gets_the_builtin_aliases():
    kw = parse_keyword("AI")
    assert kw.name == "AI" and "artificial intelligence" in kw.aliases and "a i" in kw.aliases
    assert parse_keyword("robot").aliases == ("robot",)
    assert parse_keyword("bot=robot,droid").aliases == ("bot", "robot", "droid")


# ------------------------------------------------------------------ streaming: partial → final


def test_provisional_hit_counts_at_once_and_final_confirms_without_double_count():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    ch = c.on_partial(words("this is about AI", start=5.0), now=6.5)
    assert [x.kind for x in ch] == ["added"] and not ch[0].hit.confirmed
    assert c.counts() == {"AI": 1}
    # The same partial again, and a longer one: still the same spoken word.
    assert c.on_partial(words("this is about AI", start=5.0), now=6.6) == []
    assert c.on_partial(words("this is about AI in the", start=5.05), now=7.0) == []
    ch = c.on_final(words("this is about AI in the editor", start=5.02), now=8.0)
    assert [x.kind for x in ch] == ["confirmed"]
    assert c.counts() == {"AI": 1}
    (hit,) = c.counted()
    assert hit.confirmed and hit.emitted_at == 6.5  # the latency clock keeps the first sighting


def test_final_without_the_word_retracts_the_provisional_hit():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial([Word("where", 1.0, 1.2), Word("does", 1.2, 1.4), Word("AI", 1.4, 1.6)], now=2.0)
    assert c.counts() == {"AI": 1}
    ch = c.on_final(
        [Word("where", 1.0, 1.2), Word("does", 1.2, 1.4), Word("I", 1.4, 1.6), Word("fail", 1.6, 2.0)], now=2.5
    )
    assert [x.kind for x in ch] == ["retracted"]
    assert c.counts() == {"AI": 0} and c.counted() == []
    assert c.hits[0].retracted


def test_a_final_that_ends_before_the_provisional_word_leaves_it_pending():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial([Word("and", 3.0, 3.2), Word("AI", 3.3, 3.6)], now=4.0)
    assert c.on_final([Word("and", 3.0, 3.2)], now=4.1) == []
    assert c.counts() == {"AI": 1}
    ch = c.on_final([Word("AI", 3.32, 3.62)], now=4.6)
    assert [x.kind for x in ch] == ["confirmed"] and c.counts() == {"AI": 1}


def test_two_close_mentions_are_two_hits():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial(words("AI AI", start=1.0, step=0.5), now=2.2)
    assert c.counts() == {"AI": 2}
    c.on_final(words("AI AI", start=1.0, step=0.5), now=2.5)
    assert c.counts() == {"AI": 2} and all(h.confirmed for h in c.counted())


def test_a_final_hit_never_seen_in_a_partial_is_counted_confirmed():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    (ch,) = c.on_final(words("we love artificial intelligence"), now=3.0)
    assert ch.kind == "added" and ch.hit.confirmed and c.counts() == {"AI": 1}


def test_finish_retracts_what_no_final_confirmed():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial(words("about AI"), now=1.0)
    assert [x.kind for x in c.finish()] == ["retracted"]
    assert c.counts() == {"AI": 0}


def test_undo_withdraws_the_latest_hit():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("AI and later AI", step=1.0), now=5.0)
    assert c.counts() == {"AI": 2}
    ch = c.undo_last()
    assert ch.kind == "retracted" and ch.hit.start == 3.0
    assert c.counts() == {"AI": 1}
    c.undo_last()
    assert c.undo_last() is None and c.counts() == {"AI": 0}


def test_an_undone_or_reset_provisional_hit_does_not_come_back_with_the_next_result():
    # The overlay's u and r keys: the next partial (0.1 s later) and the final still show the
    # word the user withdrew; it must stay withdrawn, and a new mention still counts.
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial(words("we use AI", start=1.0), now=2.0)
    c.undo_last()
    assert c.on_partial(words("we use AI daily", start=1.0), now=2.1) == []
    assert c.on_final(words("we use AI daily", start=1.02), now=2.5) == []
    assert c.counts() == {"AI": 0}
    (ch,) = c.on_final(words("and AI", start=3.0), now=4.0)
    assert ch.kind == "added" and c.counts() == {"AI": 1}

    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_partial(words("AI and AI", start=1.0, step=0.5), now=2.6)
    assert c.counts() == {"AI": 2}
    c.reset()
    assert c.on_final(words("AI and AI", start=1.0, step=0.5), now=3.0) == []
    assert c.counts() == {"AI": 0} and c.withdrawn == []  # the final settled them


def test_counts_list_every_keyword_even_at_zero():
    c = KeywordCounter([parse_keyword("AI"), parse_keyword("robot")])
    c.on_final(words("a robot"), now=1.0)
    assert c.counts() == {"AI": 0, "robot": 1}


def test_hit_json_shape():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final([Word("AI", 1.234, 1.5)], now=2.345)
    assert c.counted()[0].as_dict() == {
        "keyword": "AI",
        "text": "AI",
        "start": 1.23,
        "end": 1.5,
        "emitted_at": 2.35,
        "confirmed": True,
    }


def test_phrase_split_across_two_finals_is_one_hit():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("we build artificial", 0.0), now=1.0)
    changes = c.on_final(words("intelligence for doctors", 1.0), now=2.0)
    assert [(ch.kind, ch.hit.text) for ch in changes] == [("added", "artificial intelligence")]
    assert c.counts() == {"AI": 1}


def test_a_pause_inside_a_phrase_is_no_sentence_end_but_letters_stay_apart():
    # A pause in "artificial … intelligence" ends Whisper's utterance, which it closes with a stop.
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("this talk is about artificial.", 0.0), now=2.0)
    changes = c.on_final(words("Intelligence and how we use it.", 2.1), now=4.0)  # 0.9 s later
    assert [(ch.kind, ch.hit.text) for ch in changes] == [("added", "artificial. Intelligence")]
    # "Q and A." then "I have time": letters across an utterance's stop are no "a i".
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("now for Q and A.", 0.0), now=2.0)
    c.on_final(words("I have time.", 1.8), now=4.0)
    assert c.counts() == {"AI": 0}


def test_letters_split_across_finals_count_and_a_partial_sees_the_carry_over():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("this is a", 0.0), now=1.0)
    added = c.on_partial(words("I model", 0.9), now=1.5)
    assert [ch.hit.text for ch in added] == ["a I"]
    changes = c.on_final(words("I model", 0.9), now=2.0)
    assert [ch.kind for ch in changes] == ["confirmed"]
    assert c.counts() == {"AI": 1}


def test_words_far_apart_across_finals_are_not_a_phrase():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("artificial", 0.0), now=1.0)
    c.on_final(words("intelligence tests", 5.0), now=6.0)
    assert c.counts() == {"AI": 0}


def test_a_hit_is_not_reused_as_carry_over_context():
    c = KeywordCounter([Keyword("AI", ("ai", "ai ai"))])
    c.on_final(words("so ai", 0.0), now=1.0)
    c.on_final(words("ai again", 0.6), now=2.0)
    assert c.counts() == {"AI": 2}


def test_keyword_prompt_spells_the_keywords_not_their_mishearings():
    assert keyword_prompt(DEFAULT_KEYWORDS) == "This talk is about AI, artificial intelligence, and AI."
    kws = [parse_keyword("LLM=llm,large language model,l l m"), parse_keyword("Kubernetes")]
    assert keyword_prompt(kws) == "This talk is about LLM, large language model, Kubernetes, and LLM and Kubernetes."
    assert keyword_prompt([]) == ""


def test_reset_withdraws_every_hit_and_the_carried_words():
    c = KeywordCounter(list(DEFAULT_KEYWORDS))
    c.on_final(words("AI and artificial", 0.0), now=1.0)
    changes = c.reset()
    assert [ch.kind for ch in changes] == ["retracted"] and c.counts() == {"AI": 0}
    c.on_final(words("intelligence again", 1.0), now=2.0)  # no phrase across the reset
    assert c.counts() == {"AI": 0}


def test_a_keyword_in_capitals_named_like_a_filler_is_a_keyword():
    """ER the emergency room is no filler "er": counted in capitals, primed as written."""
    er = parse_keyword("ER=er,emergency room")
    words = [Word("the", 0.0, 0.2), Word("ER", 0.3, 0.6), Word("was", 0.7, 0.9)]
    assert [m.keyword for m in find_matches(words, [er])] == ["ER"]
    prompt = keyword_prompt([er])
    assert "emergency room" in prompt and "Um" not in prompt


def test_technical_names_prime_the_recogniser_as_written():
    """A digit, a dot or a symbol in a name kept it out of the prompt: GPT-4 lost the recall priming gives."""
    prompt = keyword_prompt([parse_keyword(k) for k in ("GPT-4", "Node.js", "Python 3.12", "Plan B", "US=U.S.,u s")])
    for name in ("GPT-4", "Node.js", "Python 3.12", "Plan B", "US"):
        assert f" {name}," in prompt, prompt
    assert "U.S." not in prompt and "u s" not in prompt  # how engines mishear, not how it is written
    assert keyword_prompt(DEFAULT_KEYWORDS) == "This talk is about AI, artificial intelligence, and AI."


def test_dots_and_symbols_in_technical_names_match_as_whisper_prints_them():
    """Whisper prints "Node .js" and "GPT -3 .5"; "35" is not 3.5 and "vitamin C" is not C++."""
    kws = [parse_keyword(k) for k in ("GPT-3.5", "Node.js", "C++", "C#", "3.5")]
    said = "We moved GPT -3 .5 to Node .js and C++, then C#. Version 3.5 is out, 35 people and vitamin C."
    assert [m.keyword for m in find_matches(words(said), kws)] == ["GPT-3.5", "Node.js", "C++", "C#", "3.5"]
    assert tokens("A.I.") == ["ai"] and tokens("Ph.D.") == ["phd"]  # an initialism's dots join its letters


def test_an_acronym_counts_its_plural_a_word_does_not():
    kws = [parse_keyword(k) for k in ("LLM", "GPU", "new")]
    said = "Two LLMs on GPUs, an LLM on one GPU, the news is new."
    assert [m.keyword for m in find_matches(words(said), kws)] == ["LLM", "GPU", "LLM", "GPU", "new"]


def test_an_acronym_plural_is_written_in_capitals_and_yields_to_a_keyword_of_its_own():
    its = find_matches(words("its staff. Its budget. The ITs."), [parse_keyword("IT")])
    assert [m.text for m in its] == ["ITs."]  # "its" is a word, not two IT
    both = [parse_keyword("GPU"), parse_keyword("GPUs")]
    assert [m.keyword for m in find_matches(words("two GPUs"), both)] == ["GPUs"]


def test_letters_with_dots_stay_one_word_without_the_last_dot():
    mine = [parse_keyword("AI=ai,artificial intelligence")]  # no "a i" alias to fall back on
    assert [m.keyword for m in find_matches(words("A.I is here. A.I's future."), mine)] == ["AI", "AI"]
    assert keyword_prompt([parse_keyword("3.5")]) == "This talk is about 3.5, and 3.5."


def test_a_dash_or_a_slash_parts_fillers_a_hyphen_joins_them():
    from voicecount.fillers import preset

    said = "and—um—the uh/um Mm-hmm uh-huh the ER"
    assert [m.keyword for m in find_matches(words(said), preset("fillers"))] == ["um", "uh", "um"]


@pytest.mark.parametrize(
    "keyword, said",
    [
        ("GPT-4", ["GPT-4", "GPT 4", "GPT4", "gpt-4"]),
        ("GPT4", ["GPT-4", "GPT 4", "GPT4"]),
        ("COVID-19", ["COVID-19", "COVID 19", "Covid19"]),
        ("Python 3", ["Python 3", "Python3", "python-3"]),
    ],
)
def test_a_name_counts_with_its_number_apart_or_together(keyword, said):
    """Whisper prints one name several ways: "GPT-4", "GPT 4", "GPT4"."""
    for text in said:
        assert [m.keyword for m in find_matches(words(f"we used {text} today"), [parse_keyword(keyword)])] == [
            keyword
        ], text


@pytest.mark.parametrize(
    "keyword, said",
    [
        ("A4", "we need a 4 page summary and a 4-year plan"),  # a letter and a number are words
        ("H2O", "give me h 2 o"),
        ("LinkedIn", "he linked in the docs"),  # other names' parts are words too: give them as aliases
        ("Co-op", "the chicken coop"),
        ("not able", "a notable talk"),
        ("iPhone", "I phone you"),
    ],
)
def test_other_spellings_never_make_ordinary_words_count(keyword, said):
    assert names(said, [parse_keyword(keyword)]) == []


def test_other_spellings_yield_to_other_keywords_and_given_aliases():
    kws = [parse_keyword("AI"), parse_keyword("OpenAI"), parse_keyword("SQL"), parse_keyword("NoSQL")]
    assert [m.keyword for m in find_matches(words("we want open AI research, no SQL injection"), kws)] == ["AI", "SQL"]
    both = [parse_keyword("GPT-4"), parse_keyword("GPT4o=gpt4")]  # an alias given wins over a spelling
    assert [m.keyword for m in find_matches(words("GPT4 and GPT 4"), both)] == ["GPT4o", "GPT-4"]


def test_a_name_that_starts_with_a_dot_counts_only_after_its_dot():
    """A keyword ".NET" is the token "net": it counted every "net income" and "safety net"."""
    kws = [parse_keyword(".NET"), parse_keyword("ASP.NET")]
    said = "We ship .NET and ASP.NET apps; net income grew, a safety net. The .net runtime."
    assert [m.keyword for m in find_matches(words(said), kws)] == [".NET", "ASP.NET", ".NET"]


def test_a_dotted_name_said_dot_and_a_plain_word_of_its_own():
    kws = [parse_keyword(".NET"), parse_keyword("net")]
    said = "We build on dot net and .NET, for a safety net."
    assert [m.keyword for m in find_matches(words(said), kws)] == [".NET", ".NET", "net"]


def test_a_filler_of_the_users_own_counts_in_capitals_a_filler_sound_does_not():
    from dataclasses import replace

    from voicecount.fillers import preset

    mine = [replace(parse_keyword(k), filler=True) for k in ("okay=okay,OK,O.K.", "like")]
    said = "OK, so okay, I like it. O.K. then. Okay. LIKE, like-minded"
    assert [m.text for m in find_matches(words(said), mine)] == ["OK,", "okay,", "like", "O.K.", "Okay.", "LIKE,"]
    # The keyword ER (the emergency room) next to the filler set: "er" the sound, "ER" the keyword.
    kws = [parse_keyword("ER"), *preset("fillers")]
    assert [m.keyword for m in find_matches(words("the ER was, er, full"), kws)] == ["ER", "er"]


def test_an_acronym_counts_in_capitals_unless_the_engine_writes_none():
    """Keyword IT counted every "it", US every "us"; Vosk writes no capitals at all, so there it cannot tell."""
    kws = [parse_keyword("IT"), parse_keyword("US")]
    said = "Ask IT about it. The US told us."
    assert [m.text for m in find_matches(words(said), kws)] == ["IT", "US"]
    assert [m.text for m in find_matches(words("ask it about the us"), kws)] == ["it", "us"]  # caseless engine
    assert names("the llm and the LLM", [parse_keyword("LLM=llm,large language model")]) == ["llm", "LLM"]


def test_an_alias_of_signs_only_is_no_pattern_and_no_crash():
    """ ".NET=.NET,." raised IndexError on every pass: the dot rule read the first token of "."."""
    assert names("we ship on .NET today", [parse_keyword(".NET=.NET,.")]) == [".NET"]


def test_a_letter_and_its_number_count_as_written():
    """A4, F1, S3 have one capital: "in capitals" means as many capitals as the name has letters."""
    kws = [parse_keyword(k) for k in ("A4", "F1", "S3", "IT")]
    said = "Print on A4 paper for the F1 race and an S3 bucket. It is the IT team."
    assert names(said, kws) == ["A4", "F1", "S3", "IT"]
    assert names("it is a4 paper", kws) == ["it", "a4"]  # an engine without capitals cannot say


@pytest.mark.parametrize(
    "keyword, said",
    [
        ("GPT-3", "we moved from GPT-3.5 to GPT -3 .5 today"),  # a version is one number
        ("Python 3", "Python 3.12 is out"),
        ("Win10", "we could win 10 games"),  # parted only after capitals
        ("Office365", "the office 365 days a year"),
        (".NET", "visit example.net today"),  # a web address is no .NET
    ],
)
def test_a_longer_number_or_a_lower_case_part_is_another_thing(keyword, said):
    assert names(said, [parse_keyword(keyword)]) == []


def test_names_still_count_their_own_ways():
    assert names("GPT-3 and GPT -3, then GPT3.", [parse_keyword("GPT-3")]) == ["GPT-3", "GPT -3,", "GPT3."]
    assert names("ASP.NET, dotnet and (.NET)", [parse_keyword(".NET")]) == ["ASP.NET,", "dotnet", "(.NET)"]
    llm = [parse_keyword("LLM=llm,large language model")]
    assert names("Large language models, a large language model, LLMs.", llm) == [
        "Large language models,",
        "large language model,",
        "LLMs.",
    ]


def test_fillers_sounds_are_not_units_or_verbs_and_a_user_filler_yields_to_a_keyword():
    from dataclasses import replace

    from voicecount.fillers import preset

    assert names("a 5 mm screw, we err on the side of caution", preset("fillers")) == []
    kws = [parse_keyword("OK=OK,okay"), replace(parse_keyword("okay=okay,OK,ok"), filler=True)]
    assert [m.keyword for m in find_matches(words("OK, so, okay, we start"), kws)] == ["OK", "OK"]
    oks = [replace(parse_keyword("OK"), filler=True)]
    assert names("two OKs", oks) == []  # a filler has no plural


def test_a_backchannel_written_as_two_words_is_no_filler():
    from voicecount.fillers import preset

    assert names("mm hmm, and uh huh. Uh, well, hmm.", preset("fillers")) == ["Uh,", "hmm."]


def test_a_longer_name_typed_in_capitals_counts_however_it_is_written():
    """The capitals rule is for initialisms (IT, US, LLM): "-k CLOUD" must still count "cloud"."""
    assert names("the cloud, the Cloud, the CLOUD", [parse_keyword("CLOUD")]) == ["cloud,", "Cloud,", "CLOUD"]
    assert names("NASA and Nasa", [parse_keyword("NASA")]) == ["NASA", "Nasa"]
