"""The ``pairloop`` command: one Typer app, one sub-module per command group.

Exit codes: 0 success, 2 bad input (the message names the file and line), 1 anything else.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from pairloop.commands import (
    check,
    demo,
    eei,
    evaluate,
    gnn,
    graph,
    imports,
    init,
    llm,
    pool,
    recall,
    serve,
    simulate,
    stats,
    studio,
    train,
)
from pairloop.commands import round as round_cmd
from pairloop.console import err_console
from store.errors import PairloopError


class ErrorMappingGroup(TyperGroup):
    """Turns any :class:`~store.errors.PairloopError` into one clear line and its exit code
    (2 for input the user must fix, 1 for the rest); the only place errors are mapped."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PairloopError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=ErrorMappingGroup,
    help="pairloop: grow reliable item-relation labels with active learning, an LLM and humans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(init.init)
app.command("stats")(stats.stats)
app.command("check")(check.check)
app.add_typer(imports.app, name="import")
app.command("demo")(demo.demo)
app.add_typer(studio.app, name="studio")
app.command("serve")(serve.serve)
app.add_typer(llm.app, name="llm")
app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)
app.command("simulate")(simulate.simulate)
app.add_typer(pool.app, name="pool")
app.add_typer(round_cmd.app, name="round")
app.add_typer(graph.app, name="graph")
app.add_typer(gnn.app, name="gnn")
app.add_typer(eei.app, name="eei")
app.command("evaluate-recall")(recall.evaluate_recall)


def main() -> None:
    app()
