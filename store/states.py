"""Where a round and each of its pairs stand: the only spellings of these states.

The database keeps them as strings, checked by constraints built from these enums
(``store/models.py``, migration 0004).
"""

from __future__ import annotations

from enum import StrEnum


class RoundState(StrEnum):
    """``selecting`` → ``labelling`` (proposals and push under way) → ``verifying`` → ``closed``."""

    SELECTING = "selecting"
    LABELLING = "labelling"
    VERIFYING = "verifying"
    CLOSED = "closed"


OPEN_ROUND_STATES: tuple[RoundState, ...] = (RoundState.SELECTING, RoundState.LABELLING, RoundState.VERIFYING)
UNFINISHED_ROUND_STATES: tuple[RoundState, ...] = (RoundState.SELECTING, RoundState.LABELLING)


class RoundPairStatus(StrEnum):
    """A selected pair's way through the round."""

    SELECTED = "selected"  # chosen by the strategy
    PROPOSED = "proposed"  # the LLM answered; waits to be pushed
    AUTO_ACCEPTED = "auto_accepted"  # the trust gate accepted the LLM's answer: never pushed
    PUSHED = "pushed"  # a task in the round's Label Studio project
    ADJUDICATING = "adjudicating"  # disputed: a task in the adjudication project


def check_values(column: str, enum: type[StrEnum]) -> str:
    """SQL for a CHECK constraint that admits exactly the enum's values."""
    return f"{column} IN ({', '.join(repr(member.value) for member in enum)})"
