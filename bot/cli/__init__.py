"""The `bot` command (bin `bot`, `python -m bot`): serve, check and test flows, play the
customer against a running server, and look into a deployment's Redis.

`main` runs one command and turns every failure that is not a bug into one line on stderr;
the parser is bot/cli/parser.py, each command in the module named there."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from bot.cli.parser import parser
from bot.cli.sources import load_env_file
from bot.errors import ConfigError, SpecError, Unreachable
from bot.store import RedisError


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever goes wrong that is not a bug of ours ends in one line on
    stderr and a non-zero exit, never a traceback: problems in the flows (1), settings (2),
    a server or Redis that does not answer (1), output closed early (`| head`: 1)."""
    args = parser().parse_args(argv)
    try:
        load_env_file()
        code: int = args.func(args)
    except SpecError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        print(f"{len(e.problems)} problem(s) found", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"bot: {e}", file=sys.stderr)
        return 2
    except Unreachable as e:
        print(f"bot {args.command}: {e}", file=sys.stderr)
        return 1
    except RedisError as e:
        print(f"bot {args.command}: Redis did not answer: {type(e).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (`bot stats --json | head`): say so once, and
        # let nothing more be written to the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"bot {args.command}: output closed before it was all written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
