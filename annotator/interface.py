"""What annotators see in Label Studio: the labelling interface and the task text for one pair.

The interface names are the contract between the tasks pairloop pushes, the predictions it
attaches and the annotations it reads back (:mod:`annotator.annotations`): a choice's ``value``
(or its ``alias``) is what results carry, so keys and labels change freely but values never do.

Task data is plain text, one field per thing shown: Label Studio's data manager lists every
data field as a column, raw, so markup in task data would show there as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from store.taxonomy import FINE_CODES, RELATIONS

# Control names in the interface; results carry them as ``from_name``.
RELATION = "relation"
FINE_CODE = "fine_code"
COMMENT = "comment"
TARGET = "item_1"  # the object tag every control points at (``to_name``)
UNSURE = "unsure"

RELATION_HINTS = {
    "complementary": "bought or used together (tent + sleeping bag)",
    "substitute": "one replaces the other (two tents)",
    "unrelated": "no functional relationship",
}
# The keys annotators press: every choice has its own, so Label Studio assigns none (it would
# hand out 1, 2, 3... in page order, giving "1" to the first relation). A fine code takes its
# own digit; relations take letters. Not "u" for unrelated: Label Studio binds "u" on every
# page (unselect region).
RELATION_KEYS = {"complementary": "c", "substitute": "s", "unrelated": "n"}
UNSURE_KEY = "x"


@dataclass(frozen=True)
class ItemView:
    """One item as annotators see it."""

    title: str
    category: str | None = None
    description: str | None = None
    image_url: str | None = None


def fine_choice_label(code: int) -> str:
    return f"{code} · {FINE_CODES[code]}"


def item_fields(item_1: ItemView, item_2: ItemView) -> dict[str, str]:
    """The two items as task data (``item_1_title``, ``item_1_category``, ...): plain text, ``""``
    where an item has nothing, since Label Studio refuses a task that lacks a field the interface shows."""
    fields: dict[str, str] = {}
    for position, item in ((1, item_1), (2, item_2)):
        fields.update({
            f"item_{position}_title": item.title,
            f"item_{position}_category": item.category or "",
            f"item_{position}_description": item.description or "",
            # Shown inside an attribute of the interface's <img>: quotes, brackets and spaces escaped.
            f"item_{position}_image": quote(item.image_url, safe="/:?#[]@!$&'()*+,;=%~") if item.image_url else "",
        })
    return fields


def _item_view(position: int) -> str:
    """One item's column: its title (the object every control points at for item 1), category,
    description and image, each from its own plain task field."""
    name = f"item_{position}"
    # Label Studio fills $field inside a value; an empty src with an empty alt shows nothing.
    image = quoteattr(f'<img src="${name}_image" alt="" style="max-width: 240px;"/>')
    return f"""    <View style="flex: 1;">
      <Header value="Item {position}"/>
      <View style="font-size: 1.15em; font-weight: 600;"><Text name="{name}" value="${name}_title"/></View>
      <View style="font-style: italic;"><Text name="{name}_category" value="${name}_category"/></View>
      <Text name="{name}_description" value="${name}_description"/>
      <HyperText name="{name}_image" value={image} inline="true"/>
    </View>"""


ANSWERS_FIELD = "answers_summary"  # task data of an adjudication: the annotators' answers
ANSWERS_HEADER = ("The annotators' answers (no majority, or a verified label flagged as likely wrong): "
                  "your answer decides the pair")


PROPOSAL_HEADERS = {  # what the text above the choices says the LLM's answer is
    "adjudication": "LLM proposal (for reference)",
    "preselect": "LLM proposal (pre-selected below; change it if it is wrong)",
    "suggest": "LLM suggestion (nothing is pre-selected: give your own answer)",
}


def label_config(adjudication: bool = False, preselected: bool = False) -> str:
    """The Label Studio labelling interface (XML) for relation verification.

    ``preselected`` says that tasks carry the LLM's answer as a prediction, which Label Studio
    pre-selects; otherwise the proposal is shown as a suggestion only. The adjudication
    interface also shows the annotators' answers; its LLM proposal is for reference only
    (nothing is pre-selected).
    """
    proposal_header = PROPOSAL_HEADERS[
        "adjudication" if adjudication else "preselect" if preselected else "suggest"]
    answers = (f"""
  <Header value="{ANSWERS_HEADER}"/>
  <Text name="answers" value="${ANSWERS_FIELD}"/>""" if adjudication else "")
    relation_choices = "\n".join(
        f"      <Choice value={quoteattr(name)} hotkey={quoteattr(RELATION_KEYS[name])} "
        f"hint={quoteattr(RELATION_HINTS[name])}/>" for name in RELATIONS
    )
    fine_choices = "\n".join(
        f"      <Choice value={quoteattr(fine_choice_label(code))} alias=\"{code}\" hotkey=\"{code}\"/>"
        for code in FINE_CODES
    )
    relation_keys = ", ".join(f"{key} {name}" for name, key in (*RELATION_KEYS.items(), (UNSURE, UNSURE_KEY)))
    return f"""<View>
  <View style="display: flex; gap: 1.5em;">
{_item_view(1)}
{_item_view(2)}
  </View>
  <Header value="{proposal_header}"/>
  <Text name="llm_proposal" value="$llm_summary"/>{answers}
  <Header value="How is item 1 related to item 2? (keys: {relation_keys})"/>
  <Choices name="{RELATION}" toName="{TARGET}" choice="single-radio" required="true" showInline="true">
{relation_choices}
      <Choice value="{UNSURE}" hotkey="{UNSURE_KEY}" hint="cannot decide: the pair goes to another annotator"/>
  </Choices>
  <Header value="Fine function-based label (optional; item 1 → item 2; keys: the code's digit)"/>
  <Choices name="{FINE_CODE}" toName="{TARGET}" choice="single-radio">
{fine_choices}
  </Choices>
  <TextArea name="{COMMENT}" toName="{TARGET}" placeholder="Comment (optional)"
            maxSubmissions="1" editable="true" rows="2"/>
</View>"""


def proposal_summary(relation: str | None, fine_code: int | None, confidence: float | None,
                     rationale: str | None) -> str:
    """One line for annotators: what the LLM proposed and why."""
    if relation is None:
        return "No LLM proposal for this pair."
    text = relation
    if fine_code is not None:
        text += f" (fine {fine_choice_label(fine_code)})"
    if confidence is not None:
        text += f", confidence {confidence:.2f}"
    return f"{text}. {rationale}" if rationale else f"{text}."
