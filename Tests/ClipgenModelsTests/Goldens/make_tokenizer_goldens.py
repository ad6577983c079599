"""Goldens and the vocabulary fixture for the Swift CLIP tokenizer (Sources/ClipgenModels/CLIPTokenizer.swift).

    python make_tokenizer_goldens.py record      writes tokenizer_goldens.json and tokenizer_unicode.json next to
                                                  this file; needs open_clip_torch (with ftfy, regex) and torch
    python make_tokenizer_goldens.py fixture OUT writes the tokenizer keys of a clipgen model file to OUT (GGUF),
                                                  from the converter's own tables (clipgen_convert.clip_vocab); needs
                                                  gguf-py, the converter and the open_clip_torch wheel's vocabulary

The Swift tests run `fixture` through $CLIPGEN_PYTHON on every run and `record` when CLIPGEN_RECORD_GOLDENS=1.

tokenizer_goldens.json: >= 500 prompts and open_clip.tokenizer.tokenize(prompt) for each (context 77), a few hundred
of them mojibake made by encoding text in one codec and decoding it in another (for ftfy's fix_encoding). Where
ftfy.fix_text changes a prompt, the entry also holds its output ("fix_text"), which the Swift cleaning must equal.
tokenizer_unicode.json: how Python and the `regex` module see every code point (the split pattern's classes,
str.lower, NFC), for the exhaustive Unicode tests.
"""
import hashlib
import importlib.util
import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDENS = os.path.join(HERE, "tokenizer_goldens.json")
UNICODE = os.path.join(HERE, "tokenizer_unicode.json")
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
SPECIAL_TOKENS = ["<start_of_text>", "<end_of_text>"]
PATTERN = "|".join(SPECIAL_TOKENS) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
CONTEXT_LENGTH = 77


def bpe_path() -> str:
    """The vocabulary inside the installed open_clip_torch wheel, found without importing open_clip (and torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"open_clip_torch is not installed in {sys.executable}: the tokenizer tests need its {BPE_FILE} "
                 "(pip install --no-deps open_clip_torch==3.3.0)")
    return os.path.join(spec.submodule_search_locations[0], BPE_FILE)


def write_fixture(out: str) -> None:
    """The tokenizer part of a clipgen model file, exactly as the converter stores it (docs/model-clip.md)."""
    path = bpe_path()
    try:
        import gguf
        from clipgen_convert.clip_vocab import tokenizer
    except ImportError as e:
        sys.exit(f"{sys.executable}: {e}; the tokenizer fixture needs gguf-py and the converter "
                 "(pip install -e ./converter)")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(GOLDENS, encoding="utf-8") as f:
        recorded = json.load(f)["header"]["bpe_sha256"]
    if digest != recorded:
        sys.exit(f"{path}: sha256 {digest} differs from the vocabulary the goldens were recorded with ({recorded})")
    extra_kv, meta = tokenizer(path)
    T = gguf.GGUFValueType
    w = gguf.GGUFWriter(out, "clipgen")
    w.add_uint32("clipgen.format_version", 1)
    w.add_array("clipgen.components", ["clip"])
    for key, (value, vtype, *sub_type) in extra_kv.items():
        w.add_key_value(key, value, vtype, sub_type=sub_type[0] if sub_type else None)
    w.add_uint32("clipgen.clip.text.context_length", CONTEXT_LENGTH)
    for key, value in meta.items():  # the converter's writer maps bool -> BOOL, str -> STRING
        w.add_key_value(f"clipgen.clip.{key}", value, T.BOOL if isinstance(value, bool) else T.STRING)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------------------------------------------------------
# The prompts.

CURATED = [
    # Plain prompts and the README example.
    "a diagram", "A photo of a cat", "an astronaut riding a horse on the moon, digital art",
    "a painting of a fox sitting in a field at sunrise, trending on artstation", "", " ", "\t\n", "a", "A", "I",
    "photo", "PHOTO", "PhOtO oF A DoG", "the quick brown fox jumps over the lazy dog",
    # Contractions and apostrophes (the pattern's 's 't 're 've 'm 'll 'd come before letters).
    "it's", "IT'S", "don't", "we're", "they've", "i'm", "you'll", "he'd", "it's a dog's life", "'s", "'sandwich",
    "rock'n'roll", "o'clock", "'", "''", "'''s", "!!'s", "x's'", "'ll'", "' s", "l'été", "can't won't shouldn't",
    "it\u2019s", "don\u2018t", "\u2018quoted\u2019", "\u201cdouble\u201d", "\u201equote\u201f", "\u02bcmodifier",
    "it\u201bs", "\u00abguillemets\u00bb", "\u2039single\u203a",
    # Digits are one token each; numbers in letters.
    "1", "12", "2024", "3.14159", "1,000,000", "100%", "$9.99", "24/7", "4k uhd 8k", "v2.0.1", "0x1f",
    "\u0661\u0662\u0663", "\u0968\u0966\u0968\u096a", "\u2160\u2161\u2162", "\u00bd \u00be \u2153", "\u00b2\u00b3",
    "\u2460\u2461", "\U0001d7d8\U0001d7d9", "\uff11\uff12\uff13", "\u4e00\u4e8c\u4e09",
    # Punctuation runs.
    "!!!", "?!?!", "...", "\u2026", "a...b", "a--b", "a \u2014 b", "a\u2013b", "(parentheses)", "[brackets]",
    "{braces}", "<angle>", "a<b>c", "#hashtag", "@mention", "user@example.com", "https://example.com/a?b=c&d=e",
    "C:\\path\\to\\file", "a_b_c", "snake_case_name", "~tilde~", "`code`", "\"quoted\"", "a;b:c", "::", "->", "=>",
    "***stars***", "^_^", ":)", ":-(", "\u00a9 \u00ae \u2122", "\u00a7\u00b6", "\u2020\u2021", "\u2022 bullet",
    # HTML entities, named, numeric, uppercase, without semicolons, double-escaped, invalid.
    "&amp;", "&lt;b&gt;", "fish &amp; chips", "&quot;hi&quot;", "&#39;s", "it&#x27;s", "&#65;&#x42;&#X43;",
    "&nbsp;x&nbsp;", "caf&eacute;", "CAF&EACUTE;", "&NTILDE;", "&szlig;", "&SZLIG;", "&amp;amp;", "&amp;lt;",
    "&amp;amp;amp;", "&lt;&lt;", "a &lt; b", "a < b &amp; c", "&notit;", "&not", "this&not that", "&copy 2020",
    "&copy;2020", "&hellip;", "&mdash;", "&ldquo;x&rdquo;", "&#0;", "&#13;", "&#128;", "&#150;", "&#x80;",
    "&#xD800;", "&#1114112;", "&#x110000;", "&#65279;", "&#11;", "&#x7f;", "&#;", "&#x;", "&#xZZ;", "&bogus;",
    "&ampx", "&amp", "&AMP;", "&Amp;", "&#59;", "&#38;amp;", "&frac12;", "&euro;", "&alpha;&beta;", "&ETH;",
    "&eth;", "&ETHx;", "&lt", "&gt", "&#60;", "&#062", "&#x3c;b&#x3e;", "&#12345678901234567890;",
    "a\n&amp;", "<b>\n&amp;", "&amp;\n<b>", "&amp;\n<b>\n&amp;", "x &amp y", "&quot&quot", "&", "&&", "& amp;",
    "&"+"a" * 30 + ";", "&amp;"*3,
    # Whitespace runs, tabs, newlines, unusual spaces, zero-width characters.
    "  leading", "trailing  ", "  both  ", "a  b", "a\tb", "a\nb", "a\r\nb", "a\rb", "a\u2028b", "a\u2029b",
    "a\u0085b", "a\u00a0b", "a\u2003b", "a\u3000b", "a\u202fb", "a\u205fb", "a\u1680b", "a\x0bb", "a\x0cb",
    "a\x1cb", "a\x1fb", "a\u200bb", "a\u200cb", "a\u200db", "a\u2060b", "a\ufeffb", "\ufeffbom", "a\u00adb",
    "a\u180eb", " \t \n \r \u3000 ", "\n\n\nnewlines\n\n", "multi\nline\nprompt",
    # Control characters, C1 controls, terminal escapes.
    "a\x00b", "a\x01b", "a\x07b", "a\x1bb", "a\x7fb", "a\x80b", "a\x85b", "a\x91quoted\x92", "a\x93b\x94",
    "\x96 dash", "a\x81b", "a\x9db", "a\x99b", "\x1b[31mred\x1b[0m", "\x1b[1;32mbold green\x1b[0m text",
    "\x1b[\u0661mx", "a\u206ab", "a\ufff9b\ufffbc", "a\ufffcb", "a\ufffdb", "\u200e\u200frtl",
    # Ligatures and widths.
    "\ufb01sh \ufb02ower", "\ufb00 \ufb03 \ufb04 \ufb05 \ufb06", "\u0133 \u0132", "\u01c4\u01c5\u01c6",
    "\u01c7\u01c8\u01c9 \u01ca\u01cb\u01cc", "\u01f1\u01f2\u01f3", "\u0149", "\uff21\uff22\uff23 \uff41\uff42\uff43",
    "\uff28\uff45\uff4c\uff4c\uff4f\uff0c\u3000\uff37\uff4f\uff52\uff4c\uff44\uff01", "\uff76\uff80\uff76\uff85",
    "\uff73\uff9e", "\uffa1\uffa4", "\uffe0\uffe1\uffe5", "\uff5f\uff60", "\uffe8\uffee",
    # Accents, composed and decomposed (NFC), case mapping corners.
    "caf\u00e9", "cafe\u0301", "CAFE\u0301", "na\u00efve", "nai\u0308ve", "\u00c5ngstr\u00f6m", "\u212bngstrom",
    "\u2126hm", "K\u212aelvin", "\u00c7a", "C\u0327a", "e\u0301\u0301", "a\u0308\u0304", "\u1e9b\u0323",
    "stra\u00dfe", "STRASSE", "\u1e9e", "\u0130stanbul", "\u0131 I i", "\u03a3\u039f\u03a6\u039f\u03a3",
    "\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3.", "\u03a3", "a\u03a3", "\u03a3a", "A\u03a3\u0301", "A\u03a3'b",
    "A\u03a3\u00adb", "\u1f88", "\u1ffc", "\u01c5", "\u0345", "a\u0345b", "\u0399\u0345", "\u017ftart", "'\u017f",
    "<\u017ftart_of_text>", "\u212a", "\u2c6f\u2c70", "\ua7ae", "\u10a0", "\u13a0\u13a1", "\U00010400",
    "\U0001e900", "\u2c00", "\u0587", "\ufb13", "\u1e9a", "\u00b5", "\u03c2", "\u1d2c", "\u2170",
    "\u24b6\u24b7", "\U0001f130",
    # Special token text inside a prompt.
    "<start_of_text>", "<end_of_text>", "<START_OF_TEXT>", "a<end_of_text>b", "<|startoftext|>", "<|endoftext|>",
    "!<end_of_text>", "<end_of_text><end_of_text>", "<start_of_text", "start_of_text", "< start_of_text >",
    # Non-Latin scripts.
    "\u4e00\u53ea\u732b\u5750\u5728\u6905\u5b50\u4e0a", "\u6771\u4eac\u30bf\u30ef\u30fc", "\u3072\u3089\u304c\u306a",
    "\u30ab\u30bf\u30ab\u30ca", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "\u1100\u1161\u11a8", "\u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u043a\u043e\u0442",
    "\u041c\u041e\u0421\u041a\u0412\u0410", "\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u05e2\u05d1\u05e8\u05d9\u05ea",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u0570\u0561\u0575\u0565\u0580\u0565\u0576", "\u1200\u1208\u1218",
    "ti\u1ebfng vi\u1ec7t", "Ti\u00ea\u0301ng Vi\u00ea\u0323t", "\u0f56\u0f7c\u0f51", "\u1780\u17d2\u1798\u17c2\u179a",
    "\U00020000\U0002a6d6", "\U0001f1fa", "\u2f00\u2f01", "\uf900\uf901", "\u3400",
    # Emoji: single, ZWJ sequences, skin tones, flags, keycaps, variation selectors, tags.
    "\U0001f600", "\U0001f431 cat", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f44d\U0001f3fd", "\U0001f44b\U0001f3ff hello", "\U0001f9d1\U0001f3fb\u200d\U0001f4bb", "\U0001f1ef\U0001f1f5",
    "\U0001f1fa\U0001f1f8\U0001f1ec\U0001f1e7", "1\ufe0f\u20e3", "#\ufe0f\u20e3", "\u2764\ufe0f", "\u2764",
    "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f", "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f469\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468", "a\U0001f600b", "\U0001f600\U0001f600\U0001f600",
    "\u263a", "\u2603\ufe0e", "\U0001fae0", "\U0001f9ff\U0001fa84",
    # Mojibake (ftfy's fix_encoding repairs these; more are generated by `mojibake` below).
    "caf\u00c3\u00a9", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d", "sch\u00c3\u00b6n", "voil\u00c3 le travail",
    "\u00c3\u00a9t\u00c3\u00a9", "l\u00e2\u20ac\u2122\u00c3\u00a9t\u00c3\u00a9", "\u00f0\u0178\u02dc\u20ac",
    "Ã", "\u00c3\u00a2", "\u00e2\u0080\u0099",
    # Long prompts: truncation at 77 with end-of-text in the last slot.
    " ".join(["word"] * 75), " ".join(["word"] * 76), " ".join(["word"] * 77), " ".join(["photo"] * 200),
    "a " * 74 + "end", "1" * 75, "1" * 76, "!" * 500, "\U0001f600" * 40,
    "a very detailed photograph of " + ", ".join(["a red apple", "a green pear", "a yellow banana"] * 12),
]

WORDS = ("a an the of in on with and photo painting drawing portrait landscape city night sunset cat dog "
         "bird horse robot astronaut castle forest mountain river ocean beach flower tree car train "
         "futuristic ancient cyberpunk watercolor oil pencil sketch 3d render octane unreal engine highly "
         "detailed intricate beautiful dramatic lighting cinematic epic fantasy surreal minimalist vintage "
         "neon golden hour bokeh macro wide angle trending artstation by greg rutkowski").split()
PIECES = ["caf\u00e9", "na\u00efve", "\u00fcber", "se\u00f1or", "\u00e5", "\u0153uvre", "\u4e2d\u6587", "\u65e5\u672c\u8a9e",
          "\ud55c\uae00", "\u0440\u0443\u0441", "\u03b1\u03b2\u03b3", "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",
          "\U0001f600", "\U0001f44d\U0001f3fc", "\U0001f468\u200d\U0001f373", "\u2764\ufe0f", "\U0001f1eb\U0001f1f7",
          "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&eacute;", "&nbsp;", "&hearts;", "\u2019s", "'s", "'re",
          "n't", "'ll", "\u201c", "\u201d", "\u2018", "\u2014", "\u2026", "!!", "?", ",", ".", ":", ";", "(", ")",
          "#1", "42", "3.5", "100%", "1080p", "\ufb01", "\uff21\uff22", "\t", "\n", "  ", "\u3000", "\u00a0",
          "e\u0301", "\u212b", "\u0130", "\u03a3", "\u00df", "MiXeD", "UPPER", "x\u0345"]


def generated(rng: random.Random, count: int) -> list[str]:
    """Seeded prompts mixing prompt words with the pieces above, in varied case and spacing."""
    out = []
    for i in range(count):
        parts = []
        for _ in range(rng.randint(1, 14 if i % 10 else 60)):
            p = rng.choice(WORDS) if rng.random() < 0.6 else rng.choice(PIECES)
            r = rng.random()
            p = p.upper() if r < 0.1 else p.title() if r < 0.2 else p
            parts.append(p)
            parts.append(rng.choice([" ", " ", " ", "", ", ", "  ", "\t", "-"]))
        out.append("".join(parts))
    return out


# Text for the generated mojibake: accents, Greek, Cyrillic, CJK, emoji, curly quotes and the symbols of
# ftfy's badness categories.
MOJIBAKE_PIECES = ["caf\u00e9", "na\u00efve", "\u00fcber", "se\u00f1or", "fa\u00e7ade", "voil\u00e0",
                   "\u00c5ngstr\u00f6m", "cr\u00e8me br\u00fbl\u00e9e", "S\u00e3o Paulo", "\u0141\u00f3d\u017a",
                   "Dvo\u0159\u00e1k", "d\u00e9j\u00e0 vu", "\u00e0 la carte", "\u00c7a va", "\u0130stanbul",
                   "\u015fehir \u011fa", "R\u012bga", "\u00c9t\u00e9", "\u00d8resund", "gro\u00df", "\u00e0",
                   "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1", "\u043c\u043e\u0441\u043a\u0432\u0430",
                   "\u041f\u0440\u0438\u0432\u0435\u0442", "\u65e5\u672c\u8a9e", "\u4e2d\u6587",
                   "\ud55c\uad6d\uc5b4", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
                   "\u0939\u093f\u0928\u094d\u0926\u0940",
                   "\U0001f600", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\U0001f431", "\u2714",
                   "\u201cquoted\u201d", "\u2018single\u2019", "it\u2019s", "\u2014", "\u2026", "\u20ac5",
                   "\u00a33", "\u00bd", "20\u00b0C", "\u00a9", "\u2122", "\u2022", "\u00a0", "\u00d7",
                   "\u00b1", "\u00ab\u00bb", "\u00bfqu\u00e9?", "\u00a1hola!", "\u00ba", "\u00b5m"]
TWO_WAY_CODECS = ["latin-1", "windows-1252", "windows-1251", "windows-1250", "windows-1253", "windows-1254",
                  "windows-1257", "iso-8859-2", "macroman", "cp437"]


def cesu8(text: str) -> bytes:
    """CESU-8: characters above U+FFFF as the UTF-8 of their two UTF-16 surrogates; U+0000 as Java's C0 80."""
    out = b""
    for ch in text:
        if ord(ch) > 0xFFFF:
            v = ord(ch) - 0x10000
            for unit in (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)):
                out += chr(unit).encode("utf-8", "surrogatepass")
        else:
            out += b"\xc0\x80" if ch == "\0" else ch.encode("utf-8")
    return out


def mojibake(rng: random.Random, count: int) -> list[str]:
    """Seeded mojibake: prompt words and MOJIBAKE_PIECES encoded as UTF-8 (sometimes CESU-8, or a single-byte
    codec) and decoded with one of ftfy's CHARMAP_ENCODINGS or strict windows-1252 (lost bytes -> U+FFFD), once
    or twice, whole or in part, sometimes with the byte A0 turned into a space; and some clean text."""
    import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-* codecs)
    from ftfy.chardata import CHARMAP_ENCODINGS
    decoders = CHARMAP_ENCODINGS + ["windows-1252"]
    out = []
    for _ in range(count):
        parts = [rng.choice(WORDS) for _ in range(rng.randint(0, 4))]
        parts += [rng.choice(MOJIBAKE_PIECES) for _ in range(rng.randint(1, 3))]
        rng.shuffle(parts)
        clean = " ".join(parts)
        garble = lambda t: t.encode("utf-8").decode(rng.choice(decoders), errors="replace")
        mode = rng.random()
        if mode < 0.45:
            text = garble(clean)
        elif mode < 0.55:
            text = garble(garble(clean))
        elif mode < 0.65:
            i = rng.randrange(len(parts))
            text = " ".join(garble(p) if k == i else p for k, p in enumerate(parts))
        elif mode < 0.73:
            text = garble(clean).replace("\u00a0", " ")
        elif mode < 0.8:
            text = cesu8(clean + rng.choice(["", "\0"])).decode(rng.choice(["latin-1", "sloppy-windows-1252"]))
        elif mode < 0.9:
            source, target = rng.sample(TWO_WAY_CODECS, 2)
            try:
                text = clean.encode(source).decode(target, errors="replace")
            except UnicodeEncodeError:
                text = clean
        else:
            text = clean
        out.append(text)
    return out


def prompts() -> list[str]:
    rng = random.Random(20261130)
    seen, out = set(), []
    for s in CURATED + generated(rng, 420) + mojibake(random.Random(20261201), 400):
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def record() -> None:
    import ftfy
    import regex
    import open_clip
    import open_clip.tokenizer as oc
    tok = oc._tokenizer
    # The Swift port's specification: the pattern and specials of this open_clip version, clean = 'lower'.
    assert tok.pat.pattern == PATTERN and tok.clean_fn is oc._clean_lower, "open_clip's tokenizer changed"
    assert tok.sot_token_id == 49406 and tok.eot_token_id == 49407 and tok.context_length == CONTEXT_LENGTH

    entries = []
    for s in prompts():
        ids = oc.tokenize([s])[0].tolist()
        entry = {"text": s, "ids": ids, "tokens": len(tok.encode(s))}
        if ftfy.fix_text(s) != s:
            entry["fix_text"] = ftfy.fix_text(s)
        entries.append(entry)
    with open(bpe_path(), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    header = {
        "command": "python Tests/ClipgenModelsTests/Goldens/make_tokenizer_goldens.py record",
        "reference": "open_clip.tokenizer.tokenize(text) (SimpleTokenizer, clean='lower', context_length 77)",
        "versions": {"python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version,
                     "open_clip_torch": open_clip.__version__, "ftfy": ftfy.__version__, "regex": regex.__version__},
        "bpe_sha256": digest, "pattern": PATTERN, "count": len(entries),
    }
    with open(GOLDENS, "w", encoding="utf-8") as f:
        f.write('{"header": ' + json.dumps(header, ensure_ascii=True, indent=1) + ',\n"goldens": [\n')
        f.write(",\n".join(json.dumps(e, ensure_ascii=True, separators=(",", ":")) for e in entries))
        f.write("\n]}\n")
    record_unicode(header)
    print(f"wrote {len(entries)} goldens to {GOLDENS} and the Unicode tables to {UNICODE}")


def record_unicode(header: dict) -> None:
    """Per code point: the split pattern's class, str.lower() where it changes, NFC where it changes a single
    character, and the NFC composition of every canonically decomposable character (Hangul syllables excepted)."""
    import regex
    scalars = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    text = "".join(map(chr, scalars))
    classes = {}
    # Same flags as open_clip; U+0345 matches none of the three classes under IGNORECASE (it folds to a letter).
    for name, cls in (("L", r"[\p{L}]"), ("N", r"[\p{N}]"), ("P", r"[^\s\p{L}\p{N}]")):
        for m in regex.finditer(cls, text, regex.IGNORECASE):
            classes[scalars[m.start()]] = name
    runs, prev = [], None
    for cp in scalars:
        c = classes.get(cp, "S")
        if c != prev:
            runs.append([cp, c])
            prev = c
    lower = {f"{cp:x}": [ord(x) for x in chr(cp).lower()] for cp in scalars if chr(cp).lower() != chr(cp)}
    nfc = {f"{cp:x}": [ord(x) for x in unicodedata.normalize("NFC", chr(cp))]
           for cp in scalars if unicodedata.normalize("NFC", chr(cp)) != chr(cp)}
    composed = {f"{cp:x}": [ord(x) for x in unicodedata.normalize("NFD", chr(cp))] for cp in scalars
                if not 0xAC00 <= cp <= 0xD7A3 and unicodedata.normalize("NFD", chr(cp)) != chr(cp)
                and unicodedata.normalize("NFC", unicodedata.normalize("NFD", chr(cp))) == chr(cp)}
    space = [cp for cp in scalars if chr(cp).isspace()]
    # What each character of the special tokens and contractions matches under IGNORECASE (ſ -> s, K -> k).
    folds = {ch: [scalars[m.start()] for m in regex.finditer(regex.escape(ch), text, regex.IGNORECASE)]
             for ch in sorted(set("".join(SPECIAL_TOKENS) + "'strevmld"))}
    out = {"header": {"command": header["command"], "versions": header["versions"],
                      "classes": "runs of [first code point, class]: L letter, N number, P other (the pattern's "
                                 "[^\\s\\p{L}\\p{N}]), S none (whitespace; U+0345)"},
           "class_runs": runs, "lower": lower, "nfc": nfc, "composed_from_nfd": composed, "isspace": space,
           "ignorecase_matches": folds}
    with open(UNICODE, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "record":
        record()
    elif len(sys.argv) == 3 and sys.argv[1] == "fixture":
        write_fixture(sys.argv[2])
    else:
        sys.exit(__doc__)
