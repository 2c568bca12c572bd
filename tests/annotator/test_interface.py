"""The labelling interface: keys annotators can read, plain task data, answers still parsed.

Label Studio's behaviour is modelled from its 1.23.2 sources where a browser is not needed;
tests/annotator/test_interface_ls.py checks the same against the real server and page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from annotator.annotations import Answer, read_answer
from annotator.interface import FINE_CODE, RELATION, RELATION_KEYS, UNSURE, UNSURE_KEY, ItemView, label_config
from annotator.label_studio import PairTask, Proposal
from store.taxonomy import FINE_CODES, RELATIONS, Verdict

# Label Studio hands these keys out, in page order, to every choice without its own hotkey
# (Hotkey.makeComb in its editor); and binds these single keys itself (its default keymap).
LS_AUTO_KEYS = "1234567890qwetasdfgzxcvbyiopjklnm"
LS_BOUND_KEYS = {"u", "b", "e", "h", "k", "m", "o", "p", "r", "v", "w", "[", "]"}
MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!]")
BOTH = pytest.mark.parametrize("adjudication", [False, True], ids=["verification", "adjudication"])


def choices(config: str) -> list[tuple[str, ET.Element]]:
    """(control name, Choice element) in page order."""
    return [(control.get("name"), choice) for control in ET.fromstring(config).iter("Choices")
            for choice in control.iter("Choice")]


def effective_keys(config: str) -> dict[str, tuple[str, str]]:
    """key → (control, value its results carry), as Label Studio binds them: a choice's own
    hotkey first, then the next free automatic key for each choice without one."""
    keys: dict[str, tuple[str, str]] = {}
    found = choices(config)
    for control, choice in found:
        if choice.get("hotkey"):
            assert choice.get("hotkey") not in keys, f"hotkey {choice.get('hotkey')!r} is used twice"
            keys[choice.get("hotkey")] = (control, choice.get("alias") or choice.get("value"))
    for control, choice in found:
        if not choice.get("hotkey"):
            key = next(k for k in LS_AUTO_KEYS if k not in keys)
            keys[key] = (control, choice.get("alias") or choice.get("value"))
    return keys


def payload_data(adjudication: bool = False) -> dict:
    task = PairTask(7, ItemView("Tent", "Outdoor > Tents", "Two-person, waterproof.", "https://img.example/t.jpg"),
                    ItemView("Sleeping bag"), 3, Proposal("complementary", 4, 0.8, "used together"),
                    answers="a@x: substitute; b@x: unrelated" if adjudication else None)
    return task.payload("m@v")["data"]


@BOTH
def test_each_fine_code_is_on_its_own_digit(adjudication):
    """The trap: with keys left to Label Studio, "1" picked *complementary*, not fine code 1."""
    keys = effective_keys(label_config(adjudication))
    for code in FINE_CODES:
        assert keys[str(code)] == (FINE_CODE, str(code))


@BOTH
def test_relations_are_on_letters_nobody_else_uses(adjudication):
    config = label_config(adjudication)
    keys = effective_keys(config)
    relation_keys = {key: value for key, (control, value) in keys.items() if control == RELATION}
    assert sorted(relation_keys.values()) == sorted((*RELATIONS, UNSURE))
    assert all(key.isalpha() and len(key) == 1 for key in relation_keys)
    assert not set(keys) & LS_BOUND_KEYS
    assert all(choice.get("hotkey") for _, choice in choices(config)), "Label Studio would assign keys itself"


@BOTH
def test_the_keys_are_written_where_annotators_read(adjudication):
    """Label Studio shows "[key]" beside a choice unless the annotator turned that off; the
    headers say the keys whatever the setting."""
    headers = " ".join(h.get("value") for h in ET.fromstring(label_config(adjudication)).iter("Header"))
    for name, key in (*RELATION_KEYS.items(), (UNSURE, UNSURE_KEY)):
        assert f"{key} {name}" in headers
    assert "keys: the code's digit" in headers
    for _, choice in choices(label_config(adjudication)):
        if choice.get("alias"):  # a fine code: its label starts with the digit that selects it
            assert choice.get("value").startswith(f"{choice.get('hotkey')} · ")


def test_pressing_keys_gives_the_answer_they_name():
    keys = effective_keys(label_config())

    def press(*pressed: str) -> Answer:
        return read_answer([{"from_name": keys[k][0], "to_name": "item_1", "type": "choices",
                             "value": {"choices": [keys[k][1]]}} for k in pressed])

    assert press(RELATION_KEYS["substitute"], "1") == Answer(Verdict.LABEL, "substitute", 1)
    assert press(RELATION_KEYS["complementary"], "5") == Answer(Verdict.LABEL, "complementary", 5)
    assert press("8") == Answer(Verdict.LABEL, "unrelated", 8)
    assert press(UNSURE_KEY).verdict is Verdict.UNSURE


@BOTH
def test_task_data_is_plain_text(adjudication):
    """The trap: the data manager showed every field raw, `<h3>Tent</h3>` included."""
    data = payload_data(adjudication)
    assert {k: v for k, v in data.items() if isinstance(v, str) and MARKUP.search(v)} == {}
    assert (data["item_1_title"], data["item_1_category"], data["item_2_title"]) == (
        "Tent", "Outdoor > Tents", "Sleeping bag")
    assert (data["item_2_category"], data["item_2_description"], data["item_2_image"]) == ("", "", "")


@BOTH
def test_every_field_the_interface_reads_is_in_the_task(adjudication):
    """Label Studio refuses a task that lacks one ('"x" key is expected in task data')."""
    data = payload_data(adjudication)
    read = {m for value in re.findall(r'value="([^"]*)"', label_config(adjudication).replace("&quot;", '"'))
            for m in re.findall(r"\$(\w+)", value)}
    assert read and {field: type(data.get(field)).__name__ for field in read} == {field: "str" for field in read}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def test_an_image_url_cannot_leave_its_attribute():
    """Label Studio pastes the field into the interface's <img src="...">; a quote in the URL
    must not open a new attribute."""
    hostile = 'https://img.example/a b".jpg" onerror="alert(1)<x>'
    data = PairTask(1, ItemView("a", image_url=hostile), ItemView("b")).payload(None)["data"]
    (template,) = [h.get("value") for h in ET.fromstring(label_config()).iter("HyperText")
                   if h.get("name") == "item_1_image"]
    parser = _Tags()
    parser.feed(template.replace("$item_1_image", data["item_1_image"]))
    assert parser.tags == [("img", {"src": "https://img.example/a%20b%22.jpg%22%20onerror=%22alert(1)%3Cx%3E",
                                    "alt": "", "style": "max-width: 240px;"})]
