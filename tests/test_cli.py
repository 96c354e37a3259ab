"""The `bot` command as a newcomer meets it, through a real process: one line naming the
problem and a non-zero exit whatever goes wrong, never a traceback; `--version`; positional
paths; the players find the server by BOT_HOST and BOT_PORT."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot import __version__
from bot.local.redis_server import free_port
from tests.processes import bot_env, run_bot
from tests.support import ROOT


def bot(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` with only the given BOT_* variables, as a user runs it."""
    return run_bot(*args, cwd=cwd, env=bot_env(BOT_ENV_FILE="", **env), timeout=60)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command wrote to stderr; no traceback, nothing else."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_version() -> None:
    """`bot --version` prints the one version of bot/__init__.py."""
    done = bot("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"bot {__version__}")


def test_a_server_that_is_not_there_is_one_line() -> None:
    """`bot say` to a port where nothing listens: one line saying where it looked and how to
    say where the server is; exit 1."""
    port = free_port()
    done = bot("say", "hi", "--url", f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith(f"bot say: cannot reach the server at http://127.0.0.1:{port}")
    assert "--url, or BOT_HOST and BOT_PORT" in line


def test_the_players_find_the_server_by_bot_host_and_bot_port() -> None:
    """Without --url, `bot say` and `bot trigger` talk to where `bot serve` listens by the
    same settings: BOT_HOST (0.0.0.0 means this machine) and BOT_PORT."""
    port = free_port()
    for command in (("say", "hi"), ("trigger", "csat_survey")):
        done = bot(*command, BOT_HOST="0.0.0.0", BOT_PORT=str(port))
        assert done.returncode == 1
        assert f"cannot reach the server at http://127.0.0.1:{port} " in one_line(done)


def test_output_closed_early_is_one_line() -> None:
    """A reader that goes away (`bot settings | head -0`) ends the command with one line,
    not a BrokenPipeError traceback."""
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "settings"], cwd=ROOT, env=bot_env(BOT_ENV_FILE=""),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()  # nobody reads: the first write fails
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err
    assert err.strip() == "bot settings: output closed before it was all written"


def test_redis_that_does_not_answer_is_one_line() -> None:
    """`bot stats` against a Redis that is not there: one line naming BOT_REDIS_URL."""
    done = bot("stats", BOT_REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    assert done.returncode != 0
    assert one_line(done).startswith("bot: BOT_REDIS_URL does not answer")


def test_a_bad_log_level_is_one_line() -> None:
    """BOT_LOG_LEVEL=LOUD: one line naming the variable, exit 2, before anything starts."""
    done = bot("serve", BOT_SANDBOX="true", BOT_LOG_LEVEL="LOUD")
    assert done.returncode == 2
    assert one_line(done).startswith("bot: BOT_LOG_LEVEL: Input should be 'DEBUG'")


def test_check_takes_the_flows_file_as_a_path(tmp_path: Path) -> None:
    """`bot check path/to/flows.yaml` checks that file with the intents/ beside it; the
    options are still accepted; a missing file is one line per problem, exit 1."""
    project = tmp_path / "shop"
    project.mkdir()
    shutil.copy(ROOT / "flows.yaml", project / "flows.yaml")
    shutil.copytree(ROOT / "intents", project / "intents")
    done = bot("check", str(project / "flows.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok: 4 flows, 27 states; 4 intents")
    flows = str(project / "flows.yaml")
    done = bot("check", "--flows", flows, "--intents", str(project / "intents"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = bot("check", str(tmp_path / "nowhere.yaml"), cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "nowhere.yaml:0: file not found" in done.stderr


def test_test_takes_its_files_as_paths() -> None:
    """`bot test flow_tests/menu.yaml` runs that file's tests."""
    done = bot("test", "flow_tests/menu.yaml", "--no-coverage")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flow_tests/menu.yaml" in done.stdout
    assert "flow_tests/csat.yaml" not in done.stdout


@pytest.mark.parametrize("command", ["check", "test", "graph", "schema", "settings"])
def test_every_command_says_what_it_does(command: str) -> None:
    """Each command's --help names what it does, and exits 0."""
    done = bot(command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: bot {command}")


def test_init_writes_a_starter_that_checks_and_tests_at_once(tmp_path: Path) -> None:
    """`bot init DIR` in an empty folder writes flows.yaml, intents/, flow_tests/ and
    .env.example; `bot check` and `bot test` pass there at once; it never overwrites."""
    done = bot("init", "shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "shop"
    for written in ("flows.yaml", "intents/order_shipped.yaml", "flow_tests/welcome.yaml",
                    ".env.example"):  # fmt: skip
        assert (project / written).is_file(), written
    check = bot("check", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip().endswith("ok: 2 flows, 5 states; 1 intents")
    tested = bot("test", cwd=project)
    assert tested.returncode == 0, tested.stdout
    assert "3 passed, 0 failed" in tested.stdout
    again = bot("init", "shop", cwd=tmp_path)
    assert again.returncode == 1
    assert "already has flows.yaml" in one_line(again)


def test_a_project_without_intents_checks(tmp_path: Path) -> None:
    """A folder with flows.yaml and no intents/ is a project without intents."""
    assert bot("init", cwd=tmp_path).returncode == 0
    shutil.rmtree(tmp_path / "intents")
    (tmp_path / "flow_tests" / "welcome.yaml").unlink()
    (tmp_path / "flows.yaml").write_text(
        (tmp_path / "flows.yaml").read_text().split("\n  shipped:")[0] + "\n"
    )
    done = bot("check", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok: 1 flows, 4 states; 0 intents")


def test_make_run_installs_only_what_running_needs(tmp_path: Path) -> None:
    """`make run` installs the package alone; `make test` (lint) adds the dev extras."""
    venv = f"VENV={tmp_path / 'venv'}"
    run = subprocess.run(["make", "-n", "run", venv], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert "pip install --quiet -e ." in run
    assert "[dev]" not in run
    lint = subprocess.run(["make", "-n", "lint", venv], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "pip install --quiet -e '.[dev]'" in lint
