"""The tokenizer tables the converter stores are open_clip's, and they alone reproduce open_clip's token ids."""

import pytest

from clipgen_convert import clip, clip_ref, clip_vocab, synth_clip
from clipgen_convert.component import Component

open_clip = synth_clip.import_open_clip()

#: Varied prompts: case, punctuation, digits (one token each), contractions, accents, non-Latin scripts, emoji,
#: HTML entities (unescaped twice), mojibake (ftfy repairs it), whitespace runs, the special tokens' own text,
#: and prompts longer than the context (truncated with end-of-text kept last).
STRINGS = [
    "a diagram", "", "   ", "A Photo Of A CAT", "hello, world!!!", "it's they're we've I'm you'll he'd",
    "12345 and 3.14159", "café naïve résumé São Paulo", "Ελληνικά и русский 日本語の文章 한국어",
    "emoji 🐱🚀 👍🏽 family 👨‍👩‍👧", "fish &amp; chips &amp;amp; &lt;b&gt;", "mojibake: cafÃ© â€œquotedâ€\x9d",
    "tabs\tand\nnewlines\r\n  runs    of   spaces", "<start_of_text> inside <END_OF_TEXT> text",
    "snake_case-and/slashes\\back", "$100 @user #tag %50 ^_^ ~~~", "ﬁligature ＦＵＬＬＷＩＤＴＨ",
    "a " * 80, "supercalifragilisticexpialidocious " * 10, "'s's 't", "x" * 300,
]


@pytest.fixture(scope="module")
def tables():
    extra_kv, meta = clip_vocab.tokenizer()
    return Component(kind="clip", tensors={}, meta=dict(meta, **{"text.context_length": 77}), source="tables",
                     extra_kv=extra_kv)


def test_tables_equal_open_clip(tables):
    reference = open_clip.SimpleTokenizer()
    tokens = tables.extra_kv["tokenizer.ggml.tokens"][0]
    assert tokens == sorted(reference.encoder, key=reference.encoder.get)
    merges = tables.extra_kv["tokenizer.ggml.merges"][0]
    assert [tuple(m.split(" ")) for m in merges] == sorted(reference.bpe_ranks, key=reference.bpe_ranks.get)
    assert tables.extra_kv["tokenizer.ggml.bos_token_id"][0] == reference.sot_token_id == 49406
    assert tables.extra_kv["tokenizer.ggml.eos_token_id"][0] == reference.eot_token_id == 49407
    assert tokens[:256] == list(clip_vocab.bytes_to_unicode().values())


def test_stored_tables_reproduce_open_clip_ids(tables):
    tokenizer = clip_ref.Tokenizer(tables)
    for text in STRINGS:
        assert tokenizer(text) == open_clip.tokenize([text])[0].tolist(), text
    assert tokenizer("a diagram")[:4] == [49406, 320, 22697, 49407]


def test_truncation_keeps_end_of_text(tables):
    ids = clip_ref.Tokenizer(tables)("a " * 200)
    assert len(ids) == 77 and ids[-1] == 49407 and ids[0] == 49406 and 0 not in ids


def test_tables_survive_the_model_file(tmp_path):
    """Written to GGUF and read back with gguf-py, the tables still reproduce open_clip's ids."""
    from gguf import GGUFReader
    from clipgen_convert import writer

    component = clip.load(synth_clip.write(str(tmp_path), "tiny", seed=0))
    out = tmp_path / "model.gguf"
    writer.write_model([component], str(out), quant="f32")
    reader = GGUFReader(str(out))
    extra_kv = {key: (writer.field_value(reader, key),) for key in component.extra_kv}
    meta = {key: writer.field_value(reader, writer.meta_key("clip", key)) for key in component.meta}
    from_file = Component(kind="clip", tensors={}, meta=meta, source=str(out), extra_kv=extra_kv)
    tokenizer = clip_ref.Tokenizer(from_file)
    for text in STRINGS:
        assert tokenizer(text) == open_clip.tokenize([text])[0].tolist(), text


def test_bpe_path_option_is_used(tmp_path):
    """An explicit vocabulary file replaces the wheel's: a different merge list gives different tables."""
    import gzip
    with gzip.open(open_clip.tokenizer.default_bpe(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines[1], lines[2] = lines[2], lines[1]
    other = tmp_path / "vocab.txt.gz"
    with gzip.open(other, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines))
    merges = clip_vocab.tokenizer(str(other))[0]["tokenizer.ggml.merges"][0]
    assert merges[0] == " ".join(lines[1].split()) and merges[1] == " ".join(lines[2].split())
