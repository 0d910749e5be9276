from nextword.text import casing


def test_display_forms_come_from_how_words_are_written_mid_sentence(tmp_path):
    counter = casing.CaseCounter()
    counter.count("However, I like Python. However the Python docs say so. We use None and True. "
                  "The cat sat. I think London is big. In London we go. NASA is big, said NASA.\n"
                  "Python is here. a python snake. the end")
    display = counter.display_forms(["however", "i", "python", "none", "true", "the", "london",
                                     "nasa", "in", "end"])
    # Sentence-initial capitals ("However", "The", "In", line-initial "Python") do not count.
    assert display == {"i": "I", "none": "None", "true": "True", "london": "London",
                       "nasa": "NASA", "python": "Python"}
    casing.save(display, tmp_path)
    assert casing.load(tmp_path) == display


def test_missing_or_damaged_casing_file_means_lower_case(tmp_path):
    assert casing.load(tmp_path) == {}
    (tmp_path / casing.FILE).write_text("{ nope")
    assert casing.load(tmp_path) == {}
    (tmp_path / casing.FILE).write_text('{"cat": "Dog", "ok": "OK"}')
    assert casing.load(tmp_path) == {"ok": "OK"}  # a form must spell the same word
