from nextword.text import tokenizer


def build(texts, vocab_size=100, min_count=1):
    return tokenizer.train(texts, vocab_size, min_count)


def test_words_keep_inner_apostrophes_and_hyphens_and_punctuation_is_split():
    tok = build(["Don't stop the well-known show, ok?\n"])
    assert tok.encode("Don't stop the well-known show, ok?\n").tokens == [
        "don't", "stop", "the", "well-known", "show", ",", "ok", "?", "\n"]


def test_line_ends_are_one_token_each_whatever_the_convention():
    tok = build(["a b\nc\n"])
    assert tok.encode("a\r\nb\rc\n").tokens == ["a", "\n", "b", "\n", "c", "\n"]


def test_ids_are_contiguous_with_unk_and_eol_first():
    tok = build(["b b b a a c\n", "d\n"])
    vocab = tok.get_vocab()
    assert vocab[tokenizer.UNK] == 0 and vocab[tokenizer.EOL] == 1
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert vocab["b"] < vocab["a"] < vocab["c"]  # by falling frequency


def test_rare_words_become_unk_and_vocab_size_is_a_cap():
    tok = build(["common common common rare\n"], min_count=2)
    assert tok.encode("common rare").tokens == ["common", "[UNK]"]
    capped = build(["a a a a b b b c c d\n"], vocab_size=4)
    assert capped.get_vocab_size() == 4
    assert capped.encode("a b c").tokens == ["a", "b", "[UNK]"]


def test_literal_unk_marker_in_text_is_not_the_unk_token():
    tok = build(["[UNK] x\n"])
    assert tok.encode("[UNK]").tokens == ["[", "unk", "]"]
    assert tok.encode("[UNK]").ids != [0]


def test_text_is_lowercased_and_saved_tokenizer_round_trips(tmp_path):
    tok = build(["Hello World\n"])
    tokenizer.save(tok, tmp_path / "t.json")
    again = tokenizer.load(tmp_path / "t.json")
    assert again.encode("HELLO world").ids == tok.encode("hello WORLD").ids


def test_is_word():
    assert tokenizer.is_word("don't") and tokenizer.is_word("well-known") and tokenizer.is_word("42")
    for token in ["[UNK]", "\n", ",", "<unk>", "-"]:
        assert not tokenizer.is_word(token)


def test_growing_text_gives_the_ids_of_the_whole_text_while_it_is_typed_and_edited():
    # Pieces whose normal forms change or join what is next to them: a ligature, a
    # combining accent (after a letter and after a space), a final sigma, a diaeresis whose
    # compatibility form holds a space, Windows line ends, inner apostrophes and hyphens.
    pieces = ["ﬁne", "e\u0301t\u00e9", " \u0301x", "ΟΔΟΣ", "\u00a8", "don't", "well-known",
              "<unk>", "a,b", "\r\n", "\n", "  ", "ΣΑΣ.", "x" * 300, "the", "of", "9"]
    rng = __import__("random").Random(7)
    text = "".join(rng.choice(pieces) + rng.choice([" ", "", "  ", "\t"]) for _ in range(250))
    tok = build([text])
    growing = tokenizer.GrowingText(tok)
    ends = list(range(0, len(text) + 1, 11)) + [len(text), len(text) - 3, 900, 901, 512, 513]
    for end in ends:  # typed on, then edited back and on again
        assert growing.ids(text[:end]) == tok.encode(text[:end], add_special_tokens=False).ids, end
    assert growing._head[0]  # the head's ids were kept (the text outgrew a block)
