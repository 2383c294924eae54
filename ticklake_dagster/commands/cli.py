"""`ticklake` command line: every failure is one line on stderr and a non-zero exit, never a traceback.

Rule for `commands/*`: import only the standard library and light ticklake modules at the top; import
Dagster, pandas, pyarrow, numpy, boto3, psycopg2, FastAPI and anything that pulls them in inside `run()`.
"""

import argparse
import importlib
import sys

from ticklake_dagster.core.errors import TicklakeError
from ticklake_dagster.core.redaction import redact
from ticklake_dagster.core.settings import get

# name -> module with a one-line docstring, `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "materialize": "ticklake_dagster.commands.materialize",
    "migrate": "ticklake_dagster.commands.migrate",
    "seed-demo": "ticklake_dagster.commands.seed_demo",
    "dev": "ticklake_dagster.commands.dev",
    "ingest": "ticklake_dagster.commands.ingest",
    "serve": "ticklake_dagster.commands.serve",
    "lake": "ticklake_dagster.commands.lake",
    "import": "ticklake_dagster.commands.import_history",
    "export": "ticklake_dagster.commands.export",
}


def command_modules() -> dict:
    """Every command's module: cheap to import (see the rule above), so --help can describe them all."""
    return {name: importlib.import_module(path) for name, path in COMMANDS.items()}


def build_parser(modules: dict) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticklake", description="Tick lake to candles, on Dagster.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in modules.items():
        doc = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        module.add_arguments(sub.add_parser(name, help=doc, description=doc))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    modules = command_modules()
    args = build_parser(modules).parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except TicklakeError as e:
        print(f"error: {redact(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug, not bad input: still one line, the traceback only on request
        if get("TICKLAKE_DEBUG"):
            raise
        print(
            f"error: unexpected {type(e).__name__}: {redact(str(e).splitlines()[0]) if str(e) else ''} "
            "(set TICKLAKE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
