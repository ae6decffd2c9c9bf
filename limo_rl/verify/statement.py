"""The final answer of a chain that states its result in a sentence, without a box or "the answer is".

"So there are 45 ways in total.", "Hence the series diverges.", "The town then has 3,500,000
residents." A grader that only reads boxes calls these ``no_answer``; one that takes the last
number of the text (``last_number``) grades intermediate values. This reader takes the *last
sentence-level statement of the result*, with the care boxes get:

* only the closing sentence counts (the last sentence of the last paragraph; up to two trailing
  sentences without any value, such as "I hope this helps.", are skipped). A closing sentence
  that holds a value but is not a conclusion is not an answer, and earlier sentences are never
  searched, so an intermediate value is never taken for the result;
* the sentence must conclude (:data:`_CUE`: "so", "hence", "therefore", "then", "in total",
  "we get" ...) and must not doubt, deny, condition, bound or leave it open (:data:`_DOUBT`:
  "not", "maybe", "if", "approximately", "at least", "greater than", "divisible by", "so far",
  a question mark ...): those are no answer;
* it must name exactly one value: one number (thousands separators allowed) or one inline math
  span; with ``=`` in the sentence, the value after the last ``=``. Two values (``12 of the 45
  ways``) are ambiguous: no answer. Values joined by "or" ("it is either A or D", "3 or 5")
  are returned as alternatives, so equivalence judges them as the hedge they are;
* a sentence with no value may end in a word answer from :data:`WORD_ANSWERS` ("diverges",
  "even", "isosceles"); other words are not answers (nor are verdicts on the work such as
  "right", "valid" or "consistent").

Pure core: standard library only; linear scans of the last :data:`TAIL` characters.
"""

from __future__ import annotations

import re

TAIL = 2000
WORD_ANSWERS = frozenset("""
diverges converges diverge converge divergent convergent even odd neither true false yes possible impossible
exists increasing decreasing constant finite infinite positive negative rational irrational prime composite
isosceles equilateral scalene acute obtuse parallel perpendicular collinear concyclic bounded unbounded
injective surjective bijective periodic always sometimes
""".split())
_CUE = re.compile(
    r"\b(?:so|thus|hence|therefore|consequently|then|finally|altogether|overall|in\s+(?:total|all|conclusion|"
    r"summary)|as\s+a\s+result|we\s+(?:get|obtain|find|conclude|have))\b|∴|\\therefore", re.I)
_DOUBT = re.compile(
    r"\b(?:not|no|never|nor|cannot|maybe|perhaps|might|probably|possibly|likely|guess|assume|assuming|suppose|if|"
    r"unless|whether|check|verify|try|let(?:'s|\s+me|\s+us)|approximately|approx|about|around|roughly|nearly|almost|"
    r"least|most|more|less|fewer|over|under|up\s+to|each|per|every|than|greater|larger|smaller|bigger|below|above|"
    r"within|between|except|multiples?|divisible|divides|congruent|mod|modulo|so\s+far|for\s+now|at\s+this\s+point|"
    r"still|yet|first|next|partial)\b|n't\b|\?|≈|\\approx|[<>≤≥≡≠]|\\(?:le|ge|leq|geq|neq|ne|pmod|equiv)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_NUMBER = re.compile(r"(?<![\w.,/^_])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?%?(?![\w/^]|[.,]\d)")
_UNKNOWN = re.compile(r"\d\s*[A-Za-z]\b|(?<![\w\\])[B-HJ-Zb-z](?!\w)")  # "2x", a lone letter: an equation
_LETTER = re.compile(r"(?<![\w\\])\(?([A-J])\)?(?![\w'])")
_OR = re.compile(r"\b(?:either|or)\b", re.I)
_LETTER_CONTEXT = re.compile(r"\b(?:option|choice|answer|either)\b", re.I)
_WORD_END = re.compile(r"([A-Za-z]+)\W*$")


def _sentences(text: str) -> list[str]:
    para = [p for p in re.split(r"\n\s*\n", text[-TAIL:]) if p.strip()]
    if not para:
        return []
    return [s.strip().strip("*").strip() for s in _SENTENCE.split(para[-1]) if s.strip().strip("*").strip()]


def _values(sentence: str) -> tuple[list[str], bool, str]:
    """The candidate values of a sentence (math spans, numbers, letters where a choice is named), whether
    they are offered as alternatives ("or"), and its prose (math spans replaced by ``@``)."""
    sentence = sentence.replace("\\$", "")  # an escaped dollar is currency, not math
    sentence = re.sub(r"(?<=\d)(?:\{,\}|\\,)(?=\d{3})", ",", sentence)  # 6{,}495{,}359: separators
    spans = [next(g for g in m.groups() if g is not None).strip().rstrip(".,;").strip() for m in _MATH.finditer(sentence)]
    prose = full = _MATH.sub(" @ ", sentence)
    if "=" in prose:  # "so 20 + 25 = 45 ways": the final side, unless the left side has an unknown ("2x = 10")
        left, prose = prose.rsplit("=", 1)
        if _UNKNOWN.search(left):
            return [], False, left
        spans = spans[len(spans) - prose.count("@"):]
    found = spans + [n.replace(",", "") for n in _NUMBER.findall(prose)]
    alternatives = bool(_OR.search(prose))
    if alternatives or _LETTER_CONTEXT.search(prose):
        found += _LETTER.findall(prose)
    out: list[str] = []
    for v in found:
        if v not in out:
            out.append(v)
    return out, alternatives, full


def stated_answer(text: str) -> list[str] | None:
    """The value(s) the closing sentence of ``text`` states as the result (see the module doc), else None.

    Several values are returned only when the sentence offers them as alternatives (a hedge)."""
    sentences = _sentences(text)
    for sentence in reversed(sentences[-3:]):
        cue = _CUE.search(sentence)
        if not cue and not re.search(r"[\d$]|\\[(\[]", sentence) and not sentence.rstrip().endswith("?"):
            continue  # a closing courtesy without a value ("I hope this helps."): look one sentence back
        if not cue:
            return None  # the closing sentence is not a conclusion
        values, alternatives, prose = _values(sentence)
        if alternatives and len(values) >= 2:
            return values  # a hedge: judged as one
        if _DOUBT.search(prose):  # in the words: a relation inside math ($x \\ge 4$) is the answer itself
            return None
        if len(values) == 1:
            return values
        word = _WORD_END.search(sentence)
        if not values and word and word.group(1).lower() in WORD_ANSWERS:
            return [word.group(1).lower()]
        return None
    return None
