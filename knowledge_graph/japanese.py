"""Japanese product titles: the noun compound that names what the item is, found with SudachiPy.

An ASKUL-style title reads "brand, product line, what it is, specs, quantity, maker":
「ゼブラ 油性ボールペン ジムノック 0.7mm 黒 10本」. SudachiPy (``sudachidict-core``, split
mode C, whose long units keep brand names such as 三菱鉛筆 whole where mode B splits off a false
鉛筆) cuts it into morphemes; runs of nouns form compounds, and a Japanese compound is
head-final, so 油性ボールペン is a ボールペン (a long common noun is read in its middle units,
ショルダー|バッグ, and an unknown katakana word is cut where a known noun ends it,
ゲルインク|ボールペン). A run ends at a space, a symbol, a number, a model
code in Latin letters, a particle or a verb; the word right after a number is its counter or
unit (10本, 1ケース) and is dropped; a run that ends in a modifier ("ボールペン用", "の", "…型",
"…柄", "…タイプ") describes something else and is dropped; bracketed notes ("(直送品)",
"(10本入)") are cut first.

The dictionary is built from the catalogue, like the English one: a compound is a term when it
is seen in at least ``min_count`` titles. Which run of a title names the item is decided by its
head: the run whose head noun heads runs in the most titles (ボールペン, 替え芯, 洗剤) wins over
specs (黒インク), product lines (ジェットストリーム) and brands. Brands are what a catalogue says
about them: a run never extended by a modifier, standing at the start or the end of titles,
that is a proper noun, a word SudachiPy does not know, or frequent enough to be a house name
(花王, ゼブラ); a maker's name at the end of a title gives no term at all. What it places, and
what it gets wrong: docs/results/fbl-entities/README.md.

SudachiPy is imported on the first Japanese title, once per process.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々]")
_KATAKANA = re.compile(r"[\u30a0-\u30ff]")
_KATAKANA_WORD = re.compile(r"[\u30a0-\u30ff]+")
_NO_SYLLABLE_START = frozenset("ーンッァィゥェォャュョヮ")
_NOTES = re.compile(r"\([^()]*\)")  # after NFKC, （…） is (…)
# A refill, spare or replacement ("詰め替え", "詰替用", "交換用", "スペア", "補充インク"); not a
# refillable body ("詰め替えタイプ", "カートリッジ式").
_REFILL = re.compile(r"(?>詰め?替え?|詰め換え|つめかえ|付け?替え?|取り?替え?|差し?替え?"
                     r"|交換用|スペア|リフィル|レフィル|補充)(?!タイプ|式|可能|本体)")
_CONSUMABLES = ("芯", "刃", "カートリッジ", "インク", "インキ")  # heads that are refills by name
REFILL = "(詰め替え)"

SPLIT_MODES = ("C", "B")  # Sudachi's long units, and its middle ones (measured against each other)
SPLIT_MODE = "C"
LONGEST = 3  # units in the longest term
BRAND_SHARE = 0.005  # a bare common word at the edges of this share of titles is a house name
# A unit ending so describes what follows it ("ボールペン用", "タテ型", "ウサギ柄", "泡タイプ"),
_MODIFIER_ENDINGS = ("用", "型", "式", "柄", "タイプ")
# as does a unit a modifying suffix closed ("吉川国", "木製", "ロック付").
_MODIFIER_SUFFIXES = frozenset("用 型 式 製 向け 付 付き 入 入り 対応 品 風 国 柄 色 別 仕様 タイプ 専用".split())
# Heads that never name a product: colours, sizes, packaging, spec and catalogue words, company
# suffixes ("…工業", "…紙工"), counters that stand alone.
_NOT_HEADS = frozenset("""
オリジナル タイプ セット パック 本体 詰め替え 業務用 サイズ カラー 色 柄 香り 限定 入り 無地 プラス
黒 白 赤 青 緑 黄 茶 茶色 桃 紫 橙 灰 紺 朱色 黄緑 水色 ホワイト ブラック レッド ブルー グリーン イエロー
ピンク オレンジ ブラウン グレー ネービー パープル ベージュ シルバー ゴールド クリア 透明 ナチュラル
アイボリー ライトブルー スカイブルー ホワイトグレー パステルカラー クリアグリーン パステルピンク
大 中 小 幅 高さ 奥行き 長さ 厚さ 直径 容量 重さ 約 各 横 縦 角 丸 新 細字 太字 極細 中字 厚口
替え 取 寄品 直送 直送品 取寄品 アウトレット モデル 対応 専用 頃 シングル ダブル ソフト ハード ワイド
ロング ショート スリム ミニ 大型 小型 中型 大判 中判 小判 ピュア シリーズ 時短 保存 無香料 認証紙
工業 産業 製作所 工業所 製薬 化成 紙工 事務器 食品 製紙 化学 化学工業 商事 商会 興業 物産 販売 計画
グループ プロダクツ ジャパン サプライ コーポレーション 社 工場 商店
木 ステンレス クラフト パルプ 再生 半透明 白半透明 撥水 方眼 罫 軸 光 対策 式
もの 分 枚 個 本 箱 冊 包 袋 組 台 巻 足 双 入 人 用 様 等 他 共通 お得 徳用 お徳用 お試し
""".split())
_QUANTITY_PREFIXES = frozenset("約 各 計 全".split())  # "約幅" is a width, not a kind of 幅
_lock = threading.Lock()


def is_japanese(title: str) -> bool:
    """Whether a title is written in Japanese (any kana or kanji): it then takes this path."""
    return bool(_JAPANESE.search(title))


@lru_cache(maxsize=1)
def _dictionary():
    """SudachiPy's core dictionary, loaded on the first Japanese title."""
    from sudachipy import Dictionary

    return Dictionary(dict="core")


@lru_cache(maxsize=len(SPLIT_MODES))
def _tokenizer(mode: str):
    return _dictionary().tokenizer(mode=mode)


@lru_cache(maxsize=100_000)
def _noun_not_name(word: str) -> bool:
    """Sudachi knows the word as a noun, and not as the name of a person or a place (マックス, クリン)."""
    readings = [m.part_of_speech() for m in _dictionary().lookup(word)]
    return any(pos[0] == "名詞" for pos in readings) and not any(pos[2] in ("人名", "地名") for pos in readings)


def _split_unknown(word: str) -> list[str]:
    """An unknown katakana word cut where a known noun ends it: Sudachi reads ゲルインクボールペン
    as one word; its head is ボールペン. A tail is three kana or more and starts a syllable
    (マジックリン keeps its リン, and no cut falls after ッ); names (マックス) cut nothing."""
    for cut in range(2, len(word) - 2):
        tail = word[cut:]
        if tail[0] not in _NO_SYLLABLE_START and word[cut - 1] != "ッ" and _noun_not_name(tail):
            return [*_split_unknown(word[:cut]), tail]
    return [word]


def _form(surface: str, normalized: str) -> str:
    """Sudachi's normalised spelling (替芯 → 替え芯, ネイビー → ネービー) when it keeps the script;
    the surface where it would not (オキナ → 翁, おそうじ → 掃除)."""
    same = (bool(_KANJI.search(surface)) == bool(_KANJI.search(normalized))
            and bool(_KATAKANA.search(surface)) == bool(_KATAKANA.search(normalized)))
    return normalized if same else surface


@dataclass(frozen=True, slots=True)
class Run:
    """A noun compound of a title: its units, whether each may start a term, whether it names something."""

    units: tuple[str, ...]
    starts: tuple[bool, ...]  # False for adjectival and verb units (ストロングジェル: "ストロング" starts no term)
    proper: bool  # holds a proper noun or a word SudachiPy does not know

    @property
    def text(self) -> str:
        return "".join(self.units)

    @property
    def head(self) -> str:
        return self.units[-1]

    def candidates(self) -> list[str]:
        """Terms that end at the head, longest first: ["油性ボールペン", "ボールペン"]."""
        return ["".join(self.units[-n:]) for n in range(min(LONGEST, len(self.units)), 0, -1)
                if self.starts[-n]]


@dataclass
class _Builder:
    runs: list[Run] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    starts: list[bool] = field(default_factory=list)
    proper: bool = False
    modifier: bool = False  # the last unit modifies what follows: the run is no head

    def add(self, unit: str, *, starts: bool = True, proper: bool = False) -> None:
        if self.modifier:
            self.close()
        self.units.append(unit)
        self.starts.append(starts)
        self.proper |= proper
        self.modifier = unit.endswith(_MODIFIER_ENDINGS)

    def attach(self, suffix: str) -> None:
        """A suffix joins the unit before it (認証 + 紙 → 認証紙); alone, it is a unit of its own."""
        if self.units and not self.modifier:
            self.units[-1] += suffix
            self.modifier = suffix in _MODIFIER_SUFFIXES or self.units[-1].endswith(_MODIFIER_ENDINGS)
        elif suffix not in _MODIFIER_SUFFIXES and _KANJI.search(suffix):
            self.add(suffix)  # 紙 after "コピー用"; never a lone kana ("さ" of 厚さ)

    def close(self, *, modifier: bool = False) -> None:
        """End the run; keep it unless it modifies what follows. A term ends on a noun."""
        while self.starts and not self.starts[-1]:
            self.units.pop()
            self.starts.pop()
        if self.units and not (modifier or self.modifier):
            self.runs.append(Run(tuple(self.units), tuple(self.starts), self.proper))
        self.units, self.starts, self.proper, self.modifier = [], [], False, False


@lru_cache(maxsize=200_000)
def title_runs(title: str, mode: str = SPLIT_MODE) -> tuple[Run, ...]:
    """The noun compounds of a Japanese title, in title order (``mode``: Sudachi's split mode)."""
    with _lock:  # one dictionary per process; SudachiPy's objects are not safe to share between threads
        return _runs(title, mode)


def _runs(title: str, mode: str) -> tuple[Run, ...]:
    text = _NOTES.sub(" ", unicodedata.normalize("NFKC", title))
    morphemes = []
    for m in _tokenizer(mode).tokenize(text):
        pos, oov = m.part_of_speech(), m.is_oov()
        # A long common noun in its middle units, so that its head shows: ショルダーバッグ is a バッグ.
        # Proper nouns (三菱鉛筆, ジェットストリーム) stay whole.
        parts = list(m.split("B")) if pos[:2] == ("名詞", "普通名詞") and not oov else []
        morphemes.extend((p.surface(), p.normalized_form(), pos, oov) for p in (parts if len(parts) > 1 else [m]))
    run = _Builder()
    prefix = ""
    after_number = False
    for surface, normalized, pos, oov in morphemes:
        kind, sub, detail = pos[0], pos[1], pos[2]
        number = sub == "数詞"
        latin = bool(_LATIN_OR_DIGIT.search(surface))
        if after_number and kind in ("名詞", "接尾辞") and not number:
            run.close()  # the counter or unit of a number: 10本, 1ケース, 3色
        elif kind == "助詞" and surface in ("の", "ノ") and run.units:
            run.close(modifier=True)  # トイレの消臭スプレー: the spray, not the toilet
        elif kind == "名詞" and sub in ("普通名詞", "固有名詞") and not latin:
            unknown = oov and _KATAKANA_WORD.fullmatch(surface)
            parts = _split_unknown(surface) if unknown else [_form(surface, normalized)]
            parts[0] = prefix + parts[0]
            for part in parts:
                run.add(part, proper=sub == "固有名詞" or oov)
        elif kind in ("形状詞", "動詞") and sub != "非自立可能" and not latin:
            run.add(prefix + (_form(surface, normalized) if kind == "形状詞" else surface), starts=False)
        elif kind == "接頭辞" and not latin:
            prefix = "" if surface in _QUANTITY_PREFIXES else _form(surface, normalized)
            after_number = False
            continue
        elif kind == "接尾辞" and sub == "名詞的" and detail != "助数詞":
            run.attach(_form(surface, normalized))
        else:
            run.close()
        prefix = ""
        after_number = number
    run.close()
    return tuple(run.runs)


@dataclass(frozen=True)
class JapaneseTerms:
    """The Japanese half of an entity dictionary: terms, how often each head heads a run, brands."""

    terms: frozenset[str]
    head_counts: dict[str, int]
    brands: frozenset[str]
    mode: str = SPLIT_MODE

    def term(self, title: str) -> str | None:
        """The item's entity: the longest term of the run with the most common head, or None.
        A refill of it is an entity of its own ("修正テープ(詰め替え)"), so that the refill and
        what it refills can be joined by a complementary edge."""
        term = self._head_term(title)
        if term and _REFILL.search(unicodedata.normalize("NFKC", title)) and not _REFILL.search(term) \
                and not term.endswith(_CONSUMABLES):
            return term + REFILL
        return term

    def _head_term(self, title: str) -> str | None:
        runs = title_runs(title, self.mode)
        best: tuple[int, str] | None = None
        for i, run in enumerate(runs):
            if 0 < i == len(runs) - 1 and run.text in self.brands:
                continue  # a maker's name at the end ("旭化成ホームプロダクツ"): none of its parts either
            if run.head not in self.terms:
                continue
            term = next(c for c in run.candidates() if c in self.terms)  # the head itself at least
            score = self.head_counts[run.head]
            if best is None or score > best[0]:
                best = (score, term)
        return best[1] if best else None


def build_terms(titles: Iterable[str], min_count: int = 3, mode: str = SPLIT_MODE) -> JapaneseTerms:
    """The terms of a Japanese catalogue: compounds seen in ``min_count`` titles, brands left out."""
    titles = list(titles)
    seen: Counter[str] = Counter()  # titles holding the term, as a whole run or a run's tail
    whole: Counter[str] = Counter()  # runs that are exactly the term
    at_edge: Counter[str] = Counter()  # of those, runs first or last in their title
    heads: Counter[str] = Counter()  # titles with a run headed by the unit
    proper: set[str] = set()
    modifiers: dict[str, set[str]] = defaultdict(set)  # term -> the units seen before it in a run
    for title in titles:
        runs = title_runs(title, mode)
        found: set[str] = set()
        for i, run in enumerate(runs):
            whole[run.text] += 1
            at_edge[run.text] += i in (0, len(runs) - 1)
            if run.proper:
                proper.add(run.text)
            for n in range(1, len(run.units)):
                modifiers["".join(run.units[n:])].add("".join(run.units[:n]))
            found.update(run.candidates())
        seen.update(found)
        heads.update({run.head for run in runs})
    house = max(min_count, BRAND_SHARE * len(titles))
    brands = frozenset(
        text for text, n in whole.items()
        if n >= min_count and not modifiers.get(text) and at_edge[text] >= n / 2
        and (text in proper or n >= house))
    terms = frozenset(
        term for term, n in seen.items()
        if n >= min_count and term not in brands and term not in _NOT_HEADS
        and (whole[term] or len(modifiers.get(term, ())) >= 2))  # a tail seen only after one word is part of a name
    return JapaneseTerms(terms, dict(heads), brands, mode)

