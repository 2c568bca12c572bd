"""The ``pairloop`` command: one Typer app, one sub-module per command or command group.

Exit codes: 0 success, 2 bad input (the message names the file and line), 1 anything else.

Start-up: a command imports only its own module (:class:`LazyCommands`), and no module imports
torch, scikit-learn, modAL, the Label Studio SDK, FastAPI or the like at its top: they load
inside the functions that use them. ``pairloop --help`` lists the commands from
:data:`COMMANDS` without importing any. Guarded by ``tests/pairloop/test_startup.py``, timed by
``benchmarks/startup.py`` (see docs/benchmarks.md).

Help is Click's plain layout, which wraps at any terminal width: Rich's help panels cut long
option names ("--keep-round-lab…") to fit 80 columns.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from pairloop.console import err_console
from pairloop.settings import unknown_variables
from store.errors import PairloopError

if TYPE_CHECKING:
    from typer._click import Command, HelpFormatter  # Typer's own copy of Click

    # What LazyCommands imports by name, one module per command run; listed for type checkers
    # and for the import graph (tests/test_layers.py).
    from pairloop.commands import (  # noqa: F401
        check,
        demo,
        eei,
        evaluate,
        gnn,
        graph,
        hybrid,
        imports,
        init,
        labels,
        llm,
        pool,
        recall,
        round,
        serve,
        simulate,
        stats,
        studio,
        train,
    )

# Every command, in the order `pairloop --help` lists them: its module in pairloop.commands, the
# command function or the group's Typer app in it, and its one-line help (the first sentence of
# its own help: a test keeps the two equal).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init", "Create the database (SQLite by default) or upgrade it to the newest schema."),
    "stats": ("stats", "stats", "Items, pairs, labels by source and relation, and verified labels under the "
              "majority rule."),
    "check": ("check", "check", "Check the store: rows pointing at rows that are gone, rounds stuck in a state "
              "no command leaves, registered snapshots whose files fail their manifest."),
    "import": ("imports", "app", "Import items, labelled pairs, unlabelled candidate pairs or behaviour evidence."),
    "demo": ("demo", "demo", "Run the whole loop on a sample catalogue: Label Studio, LLM proposals, simulated "
             "annotators."),
    "studio": ("studio", "app", "Run a local Label Studio (installed once into its own venv)."),
    "serve": ("serve", "serve", "Run the pairloop service until interrupted."),
    "llm": ("llm", "app", "Label pairs with an LLM and measure how far it agrees with humans."),
    "train": ("train", "train", "Train the committee on the verified labels (majority rule: "
              "PAIRLOOP_MAJORITY_RULE) and save a version."),
    "evaluate": ("evaluate", "evaluate", "Score a labelled test file with a trained model; write metrics.json and "
                 "confusion.png."),
    "labels": ("labels", "app", "Find verified labels that are likely wrong (confident learning); measure how well."),
    "simulate": ("simulate", "simulate", "Simulate acquisition rounds on labelled files and plot macro-F1 against "
                 "labels acquired."),
    "pool": ("pool", "app", "Build, export and score candidate pools (in the store or as Parquet shards), or split "
                            "labelled pair files."),
    "round": ("round", "app", "Acquisition rounds: select pairs, get LLM proposals, verify in Label Studio, close."),
    "graph": ("graph", "app", "Entities, the complementary entity graph, its snapshots and recall."),
    "gnn": ("gnn", "app", "The dual-view entity GNN (LLM-KERec), trained by InfoNCE between its views."),
    "eei": ("eei", "app", "The E-E-I weight model: P(item taken | trigger entity, complementary entity, item)."),
    "hybrid": ("hybrid", "app", "The hybrid route: every route blended by weights learnt on held-out pairs."),
    "evaluate-recall": ("recall", "evaluate_recall", "Recall@k and NDCG@k of held-out partners: every method on "
                        "every slice (all, complementary, same-kind, cold), in one run."),
}


class ReadableGroup(TyperGroup):
    """Lists each sub-command with the whole first sentence of its help, wrapped to the
    terminal, where Click cuts it to the width left ("Create the database (SQLite by default)
    or upgrade it...")."""

    def format_commands(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        self.write_commands(formatter, [
            (name, command.get_short_help_str(limit=sys.maxsize)) for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden])

    @staticmethod
    def write_commands(formatter: HelpFormatter, rows: list[tuple[str, str]]) -> None:
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _noop() -> None:
    pass


def load_command(name: str) -> Command:
    """The command ``name`` of :data:`COMMANDS`, its module imported now, built as the root's
    sub-command (plain help; a group lists its commands readably)."""
    module, attribute, _help = COMMANDS[name]
    target = getattr(import_module(f"pairloop.commands.{module}"), attribute)
    holder = typer.Typer(rich_markup_mode=None)
    holder.callback()(_noop)  # with a callback Typer builds a group, also around a single command
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name, cls=ReadableGroup)
    else:
        holder.command(name)(target)
    return typer.main.get_command(holder).commands[name]


class LazyCommands(dict):
    """A group's table of commands (name → Click command) that builds each command on first
    access: Click lists names without touching them, so only the command that runs is imported."""

    def __init__(self, names: Any) -> None:
        super().__init__(dict.fromkeys(names))

    def __getitem__(self, name: str) -> Command:
        command = super().__getitem__(name)
        if command is None:
            command = load_command(name)
            super().__setitem__(name, command)
        return command

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def values(self) -> list[Command]:  # type: ignore[override]
        return [self[name] for name in self]

    def items(self) -> list[tuple[str, Command]]:  # type: ignore[override]
        return [(name, self[name]) for name in self]


class ErrorMappingGroup(ReadableGroup):
    """Turns any :class:`~store.errors.PairloopError` into one clear line and its exit code
    (2 for input the user must fix, 1 for the rest); the only place errors are mapped."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PairloopError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


class PairloopGroup(ErrorMappingGroup):
    """The root group: :data:`COMMANDS`, each imported when it runs; listed from the table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(COMMANDS)

    def format_commands(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        self.write_commands(formatter, [(name, help_line) for name, (_, _, help_line) in COMMANDS.items()])


app = typer.Typer(
    cls=PairloopGroup,
    help="pairloop: grow reliable item-relation labels with active learning, an LLM and humans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
app.callback()(_noop)  # the root is a group of the lazily loaded COMMANDS, which Typer does not register


def main() -> None:
    for warning in unknown_variables(os.environ):
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    app()
