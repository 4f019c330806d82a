"""The embedded sample: seeded synthetic raw files in the real formats, for the quick profile.

These are SMOKE DATA, never results. They let the whole pipeline run anywhere, offline, in
minutes; no number measured on them says anything about a model or a method. They are built
so that a model has something to learn and cannot reach 100 %: cue words overlap between
classes, negations turn cues around ("not great"), some documents are mixed or vague, lengths
have a long tail, about 1 % of rows are exact duplicates and a `label_noise` fraction of labels
is flipped to another class.

- `write_amazon_sample`: Amazon polarity fastText lines, `__label__1|2 Title: body`
  (classes negative, positive).
- `write_agnews_sample`: AG News CSV rows `"class","title","description"`, class 1-4 (World,
  Sports, Business, Sci/Tech), with the real file's debris: `#39;` for apostrophes, `quot;`
  for quotes, newlines written as backslashes, commas and quotes inside titles.
- `write_pair_sample`: a tab-separated table of sentence pairs, either question pairs labelled
  paraphrase or not (Quora-like) or statement pairs with a 0-5 similarity score (STS-like);
  `pair_sample_params` gives the `download` keys that read it.

Everything is drawn from `numpy.random.default_rng(seed)`: the same arguments give a
byte-identical file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from textdistill.data.formats import write_agnews_csv, write_fasttext
from textdistill.io import atomic_path

AMAZON_CLASSES = ("negative", "positive")
AGNEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")
DUPLICATE_RATE = 0.01


class Draws:
    """Uniform draws from a numpy Generator, fetched in blocks so per-word picks stay cheap."""

    def __init__(self, rng: np.random.Generator, block: int = 16384) -> None:
        self._rng = rng
        self._block = block
        self._buffer: list[float] = []  # reversed, so pop() yields the draws in order

    def uniform(self) -> float:
        if not self._buffer:
            self._buffer = self._rng.random(self._block).tolist()[::-1]
        return self._buffer.pop()

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high], both included."""
        return min(low + int(self.uniform() * (high - low + 1)), high)

    def pick(self, items: Sequence[str]) -> str:
        # u < 1 and len(items) < 2**53, so the product rounds below len(items).
        return items[int(self.uniform() * len(items))]


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _names(text: str) -> tuple[str, ...]:
    """'New York, London' -> ('New York', 'London')."""
    return tuple(name.strip() for name in text.split(","))


Slot = Sequence[str] | Callable[[], str]


@cache
def _parse(template: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """'a {N} is {C}!' -> ('a ', (('N', ' is '), ('C', '!'))): text, then (slot, text after)."""
    head, *pieces = template.split("{")
    return head, tuple((key, rest) for key, rest in (piece.split("}", 1) for piece in pieces))


def _fill(template: str, slots: dict[str, Slot], draws: Draws) -> str:
    """Replace each `{X}` in a template by a fresh draw from `slots[X]` (a pool or a callable)."""
    head, pieces = _parse(template)
    out = [head]
    for key, rest in pieces:
        source = slots[key]
        out.append(source() if callable(source) else draws.pick(source))
        out.append(rest)
    return "".join(out)


def _sentence_case(text: str) -> str:
    return text if text.startswith("quot;") else text[:1].upper() + text[1:]


def _title_case(text: str) -> str:
    """Capitalise plain lowercase words only: 'eBay', 'NASA' and 'AT amp;T' stay as they are."""
    return " ".join(w.capitalize() if w.isalpha() and w.islower() else w for w in text.split())


def flip_labels(
    labels: np.ndarray, classes: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Move a `noise` fraction of labels to another class, chosen uniformly."""
    chosen = rng.random(len(labels)) < noise
    shift = rng.integers(1, classes, size=len(labels))
    return np.where(chosen, (labels + shift) % classes, labels)


def duplicate_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """Row order with ~1 % of rows replaced by copies of other rows (real corpora hold some)."""
    order = np.arange(n)
    copies = int(round(n * DUPLICATE_RATE))
    if copies == 0 or n < 2 * copies:
        return order
    rows = rng.permutation(n)
    order[rows[:copies]] = rows[copies : 2 * copies]  # targets get the rows of distinct sources
    return order


# --- Amazon reviews ------------------------------------------------------------------------

_POSITIVE = _split(
    "great excellent wonderful perfect amazing fantastic awesome superb outstanding brilliant "
    "lovely beautiful gorgeous sturdy reliable durable comfortable impressive flawless "
    "terrific delightful enjoyable charming elegant accurate gripping touching hilarious "
    "catchy crisp responsive generous handy satisfying fabulous"
)
_NEGATIVE = _split(
    "terrible awful horrible poor disappointing useless flimsy boring mediocre overpriced "
    "unreliable uncomfortable defective faulty broken cheaply-made annoying frustrating "
    "misleading sloppy lousy dull pathetic shoddy noisy fragile predictable tedious "
    "unreadable blurry sluggish confusing unusable dreadful"
)
# Mild words that both polarities use; they carry little signal on their own.
_VAGUE = _split("good nice fine okay decent alright average acceptable cheap simple different")
_POSITIVE_CLAUSES = (
    "I would recommend it to anyone",
    "worth every penny",
    "highly recommended",
    "I love it",
    "my {R} loves it",
    "five stars",
    "it exceeded my expectations",
    "I will buy another one",
    "it works like a charm",
    "best purchase this year",
    "I could not put it down",
    "a real bargain",
)
_NEGATIVE_CLAUSES = (
    "I want a refund",
    "waste of money",
    "I returned it",
    "do not buy this",
    "it stopped working after {K} {U}",
    "one star",
    "it broke the first time I used it",
    "save your money",
    "I regret buying it",
    "it fell apart",
    "I gave up after {K} pages",
    "customer service never answered",
)
_PRODUCTS = _split(
    "book novel author story plot characters chapter ending series edition album cd song "
    "track singer band lyrics voice camera lens battery charger screen headphones speaker "
    "cable remote keyboard mouse printer phone case adapter blender kettle toaster pan knife "
    "mug bottle lid grinder shoes jacket shirt strap zipper backpack fabric movie film dvd "
    "actors scenes director episode soundtrack game toy puzzle controller board stroller "
    "mattress pillow lamp tent"
)
_VERBS = _split(
    "bought ordered received tried used read watched tested opened installed wore washed "
    "borrowed replaced picked found got"
)
_PEOPLE = _split(
    "son daughter wife husband mom dad sister brother friend boss kids neighbor grandson"
)
_NEUTRAL_ADJECTIVES = _split(
    "black white blue red small large new old heavy light plastic metal wooden thin thick "
    "second first standard original digital wireless paperback"
)
_SHOPS = ("Amazon", "a local store", "Walmart", "Target", "eBay", "Best Buy", "the UK")
_MODIFIERS = ("very", "really", "quite", "so", "pretty", "extremely", "rather", "truly", "")
_UNITS = ("days", "weeks", "months", "hours", "years", "uses")
_ASIDES = (
    "to be honest",
    "overall",
    "as described",
    "for the price",
    "in my opinion",
    "honestly",
    "all in all",
    "so far",
    "after a while",
    "at first",
    "to my surprise",
    "frankly",
)
# {C} is a cue adjective, chosen per sentence (see _Review.cue); the rest are neutral slots.
_CUE_TEMPLATES = (
    "the {N} is {M} {C}",
    "I {V} this {N} for my {R} and it is {C}",
    "{A}, the {N} was {C}",
    "it arrived in {K} {U} and the {N} looks {C}",
    "my {R} thinks the {N} is {M} {C}",
    "the {J} {N} feels {C}",
    "{C} {N}, {A}",
    "I have used it for {K} {U} and it is {M} {C}",
    "the {N} and the {N} are both {C}",
    "for ${K} it is {C}",
    "{A}, I would say it is {C}",
    "compared to my old {N}, this one is {M} {C}",
    "the {N} was {C} but the {N} was {C}",
)
_PLAIN_TEMPLATES = (
    "I {V} it on {D}",
    "it came in a {J} box",
    "the {N} is {J} and the {N} is {J}",
    "I {V} two of them for my {R}",
    "shipping took {K} {U}",
    "I {V} the {J} one",
    "my {R} {V} the {N} last {D}",
    "there are {K} of them in the box",
    "I have had it for {K} {U} now",
    "it uses a {J} {N}",
)
_TITLE_TEMPLATES = (
    "{C} {N}",
    "{N} is {C}",
    "simply {C}!",
    "{C} {N} for the price",
    "{C} {N}, {C} {N}",
    "my {R} says it is {C}",
    "{C} but {C}",
    "{C} {J} {N}",
    "{C} {N} from {L}",
    "{J} {N}: {C}",
)
_DAYS = _split("Monday Tuesday Wednesday Thursday Friday Saturday Sunday weekend Christmas")
_ENDINGS = (".", ".", ".", ".", "!", "!!", "...", "?")


class _Review:
    """One review's draws: its label and how clearly it states its polarity."""

    def __init__(self, label: int, clarity: float, draws: Draws) -> None:
        self.label, self.clarity, self.draws = label, clarity, draws
        self.slots: dict[str, Slot] = {
            "N": _PRODUCTS,
            "V": _VERBS,
            "R": _PEOPLE,
            "J": _NEUTRAL_ADJECTIVES,
            "A": _ASIDES,
            "D": _DAYS,
            "U": _UNITS,
            "K": lambda: str(draws.integer(2, 40)),
            "M": _MODIFIERS,
            "C": self.cue,
            "L": _SHOPS,
        }

    def cue(self) -> str:
        """An adjective: own polarity, a negated opposite ("not great"), opposite, or vague."""
        roll, own = self.draws.uniform(), 0.30 + 0.45 * self.clarity
        cues = (_NEGATIVE, _POSITIVE)
        if roll < own:
            return self.draws.pick(cues[self.label])
        negated = own + (0.16 if self.label == 0 else 0.06)  # commoner in bad reviews
        if roll < negated:
            return "not " + self.draws.pick(cues[1 - self.label])
        if roll < negated + 0.22 * (1 - self.clarity):  # mixed reviews
            return self.draws.pick(cues[1 - self.label])
        return self.draws.pick(_VAGUE)

    def sentence(self) -> str:
        roll = self.draws.uniform()
        if roll < 0.55:
            text = _fill(self.draws.pick(_CUE_TEMPLATES), self.slots, self.draws)
        elif roll < 0.55 + 0.15 * self.clarity:
            clauses = (_NEGATIVE_CLAUSES, _POSITIVE_CLAUSES)[self.label]
            text = _fill(self.draws.pick(clauses), self.slots, self.draws)
        else:
            text = _fill(self.draws.pick(_PLAIN_TEMPLATES), self.slots, self.draws)
        return _sentence_case(" ".join(text.split())) + self.draws.pick(_ENDINGS)

    def title(self) -> str:
        text = _fill(self.draws.pick(_TITLE_TEMPLATES), self.slots, self.draws)
        roll = self.draws.uniform()
        if roll < 0.1:
            return text.upper() + "!"
        return _title_case(text) if roll < 0.55 else _sentence_case(text)

    def body(self, words: int) -> str:
        sentences, count = [], 0
        while count < words:
            sentences.append(self.sentence())
            count += len(sentences[-1].split())
        return " ".join(sentences)


def generate_reviews(
    n: int, rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, list[str], list[str]]:
    """`n` reviews: 0-based polarity labels (after noise), titles and bodies."""
    labels = rng.integers(0, 2, size=n)
    clarity = rng.beta(2.0, 1.2, size=n)
    body_words = np.clip(rng.lognormal(np.log(38), 0.65, size=n), 10, 150).astype(int)
    draws = Draws(rng)
    titles, bodies = [], []
    for label, clear, length in zip(labels, clarity, body_words, strict=True):
        review = _Review(int(label), float(clear), draws)
        titles.append(review.title())
        bodies.append(review.body(int(length)))
    labels = flip_labels(labels, 2, noise, rng)
    order = duplicate_rows(n, rng)
    return labels[order], [titles[i] for i in order], [bodies[i] for i in order]


def write_amazon_sample(path: Path, n_rows: int, seed: int, label_noise: float = 0.08) -> None:
    """Amazon polarity-style fastText file: `__label__1` negative, `__label__2` positive."""
    labels, titles, bodies = generate_reviews(n_rows, np.random.default_rng(seed), label_noise)
    texts = [f"{title}: {body}" for title, body in zip(titles, bodies, strict=True)]
    with atomic_path(path) as tmp:
        write_fasttext(tmp, labels.tolist(), texts)


# --- AG News -------------------------------------------------------------------------------

_TOPIC_WORDS = {
    0: "minister election government president parliament troops embassy ceasefire rebels "
    "talks treaty protest vote refugees border diplomat militants summit opposition hostages "
    "insurgents bombing peace military soldiers nuclear sanctions crisis leader coalition "
    "regime army attack police violence allies cabinet referendum",
    1: "season coach team match goal league championship playoff striker quarterback "
    "tournament medal inning victory defeat stadium injury pitcher touchdown semifinal "
    "champion title race points sprint relay golf tennis rookie homer defender midfielder "
    "squad fans trophy qualifier",
    2: "shares profit quarter earnings investors market stocks revenue merger bank economy "
    "prices inflation retailer dollar analysts sales bonds crude futures acquisition "
    "bankruptcy jobs unemployment forecast dividend consumer mortgage rates airline pension "
    "tax deficit exports",
    3: "software internet computer researchers space scientists web browser satellite virus "
    "online mobile data technology spam hackers wireless broadband processor server network "
    "users download search security patch desktop laptop telescope planet orbit species "
    "genome spacecraft robot email",
}
_ENTITIES = {
    0: _names(
        "Iraq, Baghdad, Israel, Palestinian leaders, Sharon, Arafat, Blair, Putin, "
        "Sudan, Darfur, the UN, NATO, Iran, North Korea, Afghanistan, Pakistan, Gaza, "
        "Chechnya, Kofi Annan, Fallujah, Najaf, Kerry"
    ),
    1: _names(
        "the Yankees, the Red Sox, the Patriots, Manchester United, Arsenal, Federer, "
        "Phelps, Tiger Woods, the NBA, the NFL, the Cardinals, Astros, the Lakers, "
        "Chelsea, Roddick, Real Madrid, the Dolphins, Serena Williams"
    ),
    2: _names(
        "Wall Street, Nasdaq, the Dow, the Fed, Greenspan, Wal-Mart, OPEC, "
        "General Motors, Boeing, Citigroup, Airbus, Delta Air Lines, Morgan Stanley, "
        "Yukos, Kmart, Fannie Mae, Merrill Lynch, Exxon"
    ),
    3: _names(
        "Microsoft, Google, IBM, Apple, Intel, Linux, NASA, Sun Microsystems, Oracle, "
        "AMD, Yahoo, eBay, Nokia, AT amp;T, Motorola, Cassini, Red Hat, Firefox, Dell, "
        "Hewlett-Packard"
    ),
}
# Words of two topics at once: where the AG News classes overlap.
_SHARED_WORDS = {
    (0, 2): "oil sanctions trade economy government exports",
    (2, 3): "company deal billion launch firm chip stake",
    (1, 3): "game players video record",
    (0, 1): "world cup national olympic",
    (1, 2): "contract million signed deal",
}
_TOPICS = {
    k: _split(words) + tuple(w for pair, s in _SHARED_WORDS.items() if k in pair for w in s.split())
    for k, words in _TOPIC_WORDS.items()
}
_PLACES = _names(
    "New York, London, Washington, Tokyo, Paris, Berlin, Moscow, Sydney, Toronto, "
    "Geneva, Hong Kong, San Francisco, Seoul, Chicago, Boston"
)
_SOURCES = ("AP", "Reuters", "AFP", "CNET", "Canadian Press", "Sports Network", "Forbes")
_NEWS_VERBS = _split(
    "said announced reported warned confirmed denied expects plans hopes admitted agreed"
)
_MOVES = _names(
    "rose by, fell to, reached, could affect, will include, drew, lost, added, cut, doubled"
)
_ACTIONS = _split("announce discuss complete end face begin review delay resume approve")
_PERIODS = _names(
    "this week, last week, on Monday, on Tuesday, on Wednesday, on Thursday, on Friday, "
    "in the third quarter, this year, next month, since 2001, over the weekend, "
    "late on Sunday"
)
_QUOTES = _split("important serious encouraging difficult unacceptable historic huge")
_NEWS_TEMPLATES = (
    "{E} {V} {T} that the {W} {X} {K} {W}",
    "the {W} came after {E} {V} a new {W} in {L}",
    "{G} {W} {X} {K} percent {T}",
    "officials in {L} {V} the {W} and the {W} {T}",
    "a {W} between {E} and {E} {X} {K} {W}",
    "{E} is expected to {Y} the {W} {T}",
    "quot;The {W} is {Q},quot; {E} {V}",
    "{K} {W} were reported {T}, according to {E}",
    "{E} said it #39;s too early to {Y} the {W}",
    "the latest {W} in {L} {X} {K} {W} and {W}",
    "{G} {W} and {W} {X} ${K} million {T}",
    "{E} and {E} {V} the {W} would {Y} the {W}",
)

_HEADLINE_VERBS = _split(
    "Says Plans Faces Sees Eyes Backs Hits Gets Takes Ends Seeks Warns Rejects"
)
_HEADLINES = (
    "{E} {H} {W}",
    "{E} {H} {W} {W}",
    "{W} {W} {H} {W}",
    "{E} to {Y} {W}",
    "{W} {W} as {E} {H} {W}",
    "{W} in {L}",
    "{E} {W} {W}",
    "new {W} for {E}",
    "{W} {W}",
)


class _Article:
    """One article's draws: mostly words of its own topic, some of another (topics overlap)."""

    def __init__(self, label: int, clarity: float, draws: Draws) -> None:
        self.label, self.clarity, self.draws, self.topic = label, clarity, draws, label
        self.slots: dict[str, Slot] = {
            "E": lambda: draws.pick(_ENTITIES[self.topic]),
            "G": self.possessive,
            "W": lambda: draws.pick(_TOPICS[self.topic]),
            "V": _NEWS_VERBS,
            "X": _MOVES,
            "Y": _ACTIONS,
            "T": _PERIODS,
            "L": _PLACES,
            "Q": _QUOTES,
            "K": lambda: str(draws.integer(2, 90)),
            "H": _HEADLINE_VERBS,
        }

    def possessive(self) -> str:
        # AG News lost the '&' of '&#39;': "Google #39;s"; a few rows kept the apostrophe.
        mark = " #39;s" if self.draws.chance(0.85) else "'s"
        return self.draws.pick(_ENTITIES[self.topic]) + mark

    def pick_topic(self) -> None:
        own = 0.45 + 0.45 * self.clarity
        self.topic = self.label if self.draws.chance(own) else self.draws.integer(0, 3)

    def sentence(self) -> str:
        self.pick_topic()
        text = _fill(self.draws.pick(_NEWS_TEMPLATES), self.slots, self.draws)
        return _sentence_case(text) + "."

    def title(self, source: str | None) -> str:
        self.topic = self.label if self.draws.chance(0.8) else self.draws.integer(0, 3)
        title = _title_case(_fill(self.draws.pick(_HEADLINES), self.slots, self.draws))
        roll = self.draws.uniform()
        if roll < 0.12:  # commas and quotes exercise the CSV quoting
            title += f", {self.draws.pick(_ENTITIES[self.label])} Says"
        elif roll < 0.22:
            title = f'{title} "{self.draws.pick(_TOPICS[self.label]).capitalize()}"'
        suffix = f" ({source})" if source else ""
        keep = 10 - len(suffix.split())
        return " ".join(title.split()[:keep]) + suffix

    def body(self, words: int, source: str | None) -> str:
        prefix = f"{source} - " if source else ""  # "Reuters - Short-sellers, ..."
        sentences, count = [], len(prefix.split())
        while count < words:
            sentences.append(self.sentence())
            count += len(sentences[-1].split())
        text = prefix + " ".join(sentences)
        if count > 60:  # AG News cut long descriptions short
            text = " ".join(text.split()[:60]) + "..."
        if len(sentences) > 1 and self.draws.chance(0.12):  # a newline, written as a backslash
            head, _, tail = text.partition(". ")
            text = f"{head}.\n{tail}" if tail else text
        return text


def generate_news(
    n: int, rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, list[str], list[str]]:
    """`n` articles: 0-based topic labels (after noise), titles and descriptions."""
    labels = rng.integers(0, 4, size=n)
    clarity = rng.beta(2.0, 1.2, size=n)
    body_words = rng.integers(15, 50, size=n)
    draws = Draws(rng)
    titles, bodies = [], []
    for label, clear, length in zip(labels, clarity, body_words, strict=True):
        article = _Article(int(label), float(clear), draws)
        source = draws.pick(_SOURCES) if draws.chance(0.3) else None
        titles.append(article.title(source))
        bodies.append(article.body(int(length), source))
    labels = flip_labels(labels, 4, noise, rng)
    order = duplicate_rows(n, rng)
    return labels[order], [titles[i] for i in order], [bodies[i] for i in order]


def write_agnews_sample(path: Path, n_rows: int, seed: int, label_noise: float = 0.08) -> None:
    """AG News-style CSV: `"class","title","description"`, class 1-4, every field quoted."""
    labels, titles, bodies = generate_news(n_rows, np.random.default_rng(seed), label_noise)
    with atomic_path(path) as tmp:
        write_agnews_csv(tmp, labels.tolist(), titles, bodies)


# --- sentence pairs ------------------------------------------------------------------------
# An example's meaning is one concept per slot; each concept has synonyms and each style has
# templates that say the same thing in other words. The second sentence keeps the meaning
# with some slots changed and is worded afresh, though it often reuses the first one's words:
# a near copy with one slot changed is no paraphrase, a reworded copy is. A model must align
# meanings, not count shared words.

PARAPHRASE_CLASSES = ("different", "paraphrase")
SIMILARITY_RANGE = (0.0, 5.0)
PairTask = Literal["paraphrase", "similarity"]
_REUSE_WORDING = 0.5  # chance that a kept slot is worded as in the first sentence
_SCORE_JITTER = 0.3  # annotators' disagreement on a similarity score (standard deviation)

Concepts = tuple[tuple[str, ...], ...]  # each concept: its synonyms


def _concepts(text: str) -> Concepts:
    """'a man|a guy; a woman|a lady' -> (('a man', 'a guy'), ('a woman', 'a lady'))."""
    return tuple(tuple(word.strip() for word in concept.split("|")) for concept in text.split(";"))


@dataclass(frozen=True)
class _PairStyle:
    """Sentences of one kind: `frames` are templates grouped by meaning (a group's templates
    paraphrase each other; `F` is the group), `slots` the concepts each `{X}` draws from."""

    frames: tuple[tuple[str, ...], ...]
    slots: dict[str, Concepts]
    ending: str


_QUESTIONS = _PairStyle(
    frames=(
        ("How do I {A} {O} {P}", "What is the best way to {A} {O} {P}", "How can I {A} {O} {P}"),
        ("Why do people {A} {O} {P}", "What is the reason people {A} {O} {P}"),
        ("Is it safe to {A} {O} {P}", "Can I safely {A} {O} {P}"),
        ("How much does it cost to {A} {O} {P}", "How expensive is it to {A} {O} {P}"),
        ("Where can I learn to {A} {O} {P}", "Who can teach me to {A} {O} {P}"),
        ("How long does it take to {A} {O} {P}", "How much time do I need to {A} {O} {P}"),
    ),
    slots={
        "A": _concepts(
            "fix|repair; clean|wash; sell|get rid of; buy|purchase; paint|repaint; "
            "store|keep; ship|send; install|set up; build|make; insure|get insurance for"
        ),
        "O": _concepts(
            "a laptop|a notebook computer; a bike|a bicycle; an old car|a used car; "
            "a wooden table|a timber table; a phone|a smartphone; a fridge|a refrigerator; "
            "a sofa|a couch; a guitar|an acoustic guitar; a house|a home; a garden shed|a shed"
        ),
        "P": _concepts(
            "at home|by myself at home; in India|in India; in the US|in America; "
            "in winter|during the winter; without tools|with no tools; on a budget|cheaply; "
            "in London|in London; for the first time|as a beginner; quickly|fast; "
            "in a small apartment|in a tiny flat"
        ),
    },
    ending="?",
)
_STATEMENTS = _PairStyle(
    frames=(("{S} {A} {O} {P}", "{P}, {S} {A} {O}", "{S} {P} {A} {O}"),),
    slots={
        "S": _concepts(
            "a man|a guy; a woman|a lady; a boy|a young boy; a girl|a little girl; "
            "a dog|a puppy; the chef|the cook; a police officer|a cop; "
            "a child|a kid; an old man|an elderly man; a musician|a performer"
        ),
        "A": _concepts(
            "is slicing|is cutting; is riding|is sitting on; is eating|is munching on; "
            "is washing|is cleaning; is carrying|is holding; is painting|is drawing on; "
            "is fixing|is repairing; is throwing|is tossing; is buying|is paying for; "
            "is kicking|is booting"
        ),
        "O": _concepts(
            "an onion|a white onion; a bicycle|a bike; a sandwich|a sub; a car|an automobile; "
            "a guitar|an acoustic guitar; a ball|a football; a wall|a fence; "
            "a phone|a mobile phone; a box|a cardboard box; a boat|a small boat"
        ),
        "P": _concepts(
            "in the park|at the park; on the street|on the road; in the kitchen|indoors; "
            "on the beach|by the sea; downtown|in the city centre; in the garden|in the yard; "
            "at the station|at the train station; in the snow|on a snowy day; "
            "near the river|by the river; at night|after dark"
        ),
    },
    ending=".",
)
# How many slots the second sentence changes: paraphrases (0) near 40 % as in Quora, most
# others a near miss; similarity spread over the whole scale.
_CHANGED_SLOTS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "paraphrase": ((0, 1, 2, 4), (0.4, 0.35, 0.15, 0.1)),
    "similarity": ((0, 1, 2, 3, 4), (0.2, 0.2, 0.2, 0.2, 0.2)),
}
_STYLES = {"paraphrase": _QUESTIONS, "similarity": _STATEMENTS}


class _Meaning:
    """One sentence's meaning (a concept per slot; `F`, the frame group, where a style has
    several) and the wording it got (a template or synonym index per slot)."""

    def __init__(self, style: _PairStyle, draws: Draws, concepts: dict[str, int]) -> None:
        self.style, self.draws, self.concepts = style, draws, concepts
        self.wording: dict[str, int] = {}

    @classmethod
    def drawn(cls, style: _PairStyle, draws: Draws) -> _Meaning:
        sizes = _slot_sizes(style)
        return cls(style, draws, {key: draws.integer(0, size - 1) for key, size in sizes.items()})

    def changed(self, slots: int) -> _Meaning:
        """A copy with `slots` slots moved to another concept; each kept slot keeps its
        wording with chance `_REUSE_WORDING`."""
        sizes = _slot_sizes(self.style)
        moved = sorted(sizes, key=lambda _: self.draws.uniform())[:slots]  # a seeded shuffle
        concepts = dict(self.concepts)
        for key in moved:
            concepts[key] = (concepts[key] + self.draws.integer(1, sizes[key] - 1)) % sizes[key]
        other = _Meaning(self.style, self.draws, concepts)
        kept = [key for key in self.wording if key not in moved]
        other.wording = {
            key: self.wording[key] for key in kept if self.draws.chance(_REUSE_WORDING)
        }
        return other

    def _word(self, key: str, choices: int) -> int:
        if key not in self.wording:
            self.wording[key] = self.draws.integer(0, choices - 1)
        return self.wording[key]

    def sentence(self) -> str:
        templates = self.style.frames[self.concepts.get("F", 0)]
        template = templates[self._word("F", len(templates))]
        slots: dict[str, Slot] = {}
        for key, pool in self.style.slots.items():
            synonyms = pool[self.concepts[key]]
            slots[key] = (synonyms[self._word(key, len(synonyms))],)
        text = " ".join(_fill(template, slots, self.draws).split())
        if self.draws.chance(0.08):  # some writers skip capitals and the final mark
            return text.lower()
        return text[:1].upper() + text[1:] + self.style.ending


def _slot_sizes(style: _PairStyle) -> dict[str, int]:
    """The slots that carry meaning and their number of concepts (`F` where frames differ)."""
    frames = {"F": len(style.frames)} if len(style.frames) > 1 else {}
    return frames | {key: len(pool) for key, pool in style.slots.items()}


def generate_pairs(
    n: int, rng: np.random.Generator, task: PairTask
) -> tuple[list[str], list[str], np.ndarray]:
    """`n` sentence pairs and, per pair, the fraction of its meaning the second sentence kept
    (1.0: a paraphrase), before any label noise."""
    style, (changes, weights) = _STYLES[task], _CHANGED_SLOTS[task]
    changed = rng.choice(changes, size=n, p=weights)
    draws = Draws(rng)
    firsts, seconds = [], []
    for slots in changed:
        meaning = _Meaning.drawn(style, draws)
        firsts.append(meaning.sentence())
        seconds.append(meaning.changed(int(slots)).sentence())
    kept = 1.0 - changed / len(_slot_sizes(style))
    return firsts, seconds, kept


def _pair_labels(
    kept: np.ndarray, task: PairTask, noise: float, rng: np.random.Generator
) -> list[str]:
    """Paraphrase: the class name, `noise` of them flipped. Similarity: a 0-5 score with one
    decimal, jittered, and a `noise` fraction replaced by a score drawn at random."""
    if task == "paraphrase":
        labels = flip_labels((kept == 1.0).astype(int), 2, noise, rng)
        return [PARAPHRASE_CLASSES[label] for label in labels]
    low, high = SIMILARITY_RANGE
    scores = low + (high - low) * kept + rng.normal(0.0, _SCORE_JITTER, size=len(kept))
    scores = np.where(rng.random(len(kept)) < noise, rng.uniform(low, high, len(kept)), scores)
    return [f"{score:.1f}" for score in np.clip(scores, low, high)]


def write_pair_sample(
    path: Path, n_rows: int, seed: int, task: PairTask = "paraphrase", label_noise: float = 0.08
) -> None:
    """A tab-separated sentence-pair table with a header `id, sentence1, sentence2, <label>`:
    `paraphrase` question pairs labelled `different`/`paraphrase` (Quora-like), or
    `similarity` statement pairs scored 0-5 (STS-like). `pair_sample_params(task)` says how
    to read it."""
    rng = np.random.default_rng(seed)
    firsts, seconds, kept = generate_pairs(n_rows, rng, task)
    labels = _pair_labels(kept, task, label_noise, rng)
    label = pair_sample_params(task)["columns"]["label"]
    lines = [f"id\tsentence1\tsentence2\t{label}\n"]
    for row in duplicate_rows(n_rows, rng):
        lines.append(f"p{row}\t{firsts[row]}\t{seconds[row]}\t{labels[row]}\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8", newline="\n")


def pair_sample_params(task: PairTask) -> dict[str, Any]:
    """The `download.<name>` keys (besides `source`) that read a `write_pair_sample` file."""
    columns = {"text": "sentence1", "text_pair": "sentence2", "delimiter": "\t"}
    if task == "paraphrase":
        return {
            "format": "table",
            "classes": list(PARAPHRASE_CLASSES),
            "columns": columns | {"label": "is_paraphrase"},
        }
    return {
        "format": "table",
        "task": "regression",
        "target_range": list(SIMILARITY_RANGE),
        "columns": columns | {"label": "similarity"},
    }
