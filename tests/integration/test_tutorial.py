"""The tutorial, followed as a new user follows it, from an empty directory.

``docs/tutorial.md`` is the script: its shell commands are run in order, its
files are written from its code blocks (each marked on its first line with
the file it belongs to: ``# shop/sagas.py`` replaces the file, ``#
mysite/settings.py (add at the end)`` appends to it), its ``>>>`` sessions
are run as doctests against a real engine, and the engine's log must hold
the lines the tutorial shows. A command the test does not know, or a Python
block with no file named, fails the test: the tutorial cannot change
without it. The test examples of README.md and the testing guide are then
pasted into the same project and run.

Shortcuts, each where the tutorial leaves nothing to check: the virtualenv
sees the suite's own packages (a ``.pth`` line) instead of downloading
Django, and the checkout is installed into it without its dependencies; the
project talks to the suite's RabbitMQ with queue names of its own, deleted
afterwards; ``createsuperuser`` and ``runserver`` are replaced by a user
made in code and Django's test client on the URLs the tutorial lists.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import RABBITMQ_URL, ROOT

pytestmark = [pytest.mark.rabbitmq, pytest.mark.engine_process]

TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
TESTING_GUIDE = ROOT / "docs" / "how-to" / "testing.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
#: ``# shop/sagas.py`` or ``# mysite/settings.py (add at the end)`` on a block's first line.
FILE_MARK = re.compile(r"^# (?P<path>[\w./-]+\.(?:py|ini))(?P<append> \(add at the end\))?$")
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


@dataclass
class Block:
    lang: str
    text: str
    line: int


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    source = path.read_text()
    return [
        Block(m.group(1), m.group(2), source.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(source)
    ]


def file_blocks(path: Path) -> list[tuple[str, bool, str]]:
    """(path, append, text) of each Python or ini block marked with a file."""
    found = []
    for block in blocks(path):
        first = block.text.split("\n", 1)[0]
        mark = FILE_MARK.match(first)
        if block.lang in ("python", "ini") and mark:
            found.append((mark["path"], bool(mark["append"]), block.text))
    return found


def normal(line: str, names: dict[str, str], ids: dict[str, str]) -> str:
    """A log line without what changes from run to run: time, ids, durations, names."""
    line = TIMESTAMP.sub("", line.rstrip())
    for ours, theirs in names.items():
        line = line.replace(ours, theirs)
    line = ULID.sub(lambda m: ids.setdefault(m.group(), f"<saga {len(ids) + 1}>"), line)
    line = re.sub(r"duration_ms=\d+", "duration_ms=N", line)
    return re.sub(r"tx-[0-9a-f]{12}", "tx-<id>", line)


# Run by the project's Python: the tutorial's ``>>>`` sessions as doctests,
# one after another in one namespace, each once the sagas before it have
# settled (as a reader reads the engine's log before typing on).
SESSIONS = r"""
import doctest, json, os, re, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django
django.setup()
from django_saga.models import Saga

ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")

def normal(text):
    return re.sub(r"tx-[0-9a-f]{12}", "tx-<id>", ULID.sub("<ulid>", text))

class Checker(doctest.OutputChecker):
    def check_output(self, want, got, optionflags):
        return super().check_output(normal(want), normal(got), optionflags)

def settled(timeout=30.0):
    end = time.monotonic() + timeout
    while Saga.objects.active().exists():
        if time.monotonic() > end:
            sys.exit(f"sagas still active after {timeout}s: {list(Saga.objects.active())}")
        time.sleep(0.05)

flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE  # print() leaves a space before ""
runner = doctest.DocTestRunner(checker=Checker(), optionflags=flags)
parser = doctest.DocTestParser()
namespace = {"__name__": "__main__"}
for line, text in json.load(open(sys.argv[1])):
    settled()
    test = parser.get_doctest(text, namespace, f"session at line {line}", "docs/tutorial.md", line)
    runner.run(test, clear_globs=False)
    namespace = test.globs  # a DocTest works on a copy
settled()
sys.exit(1 if runner.summarize(verbose=False).failed else 0)
"""

# The console as the tutorial's reader opens it: anonymous, then as a superuser.
CONSOLE = r"""
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django_saga.models import Saga

client = Client(HTTP_HOST="127.0.0.1")
answer = client.get("/sagas/")
assert answer.status_code == 302, answer.status_code
assert answer["Location"].startswith(settings.LOGIN_URL), answer["Location"]
user = get_user_model().objects.create_superuser("admin", "admin@example.com", "secret")
client.force_login(user)
saga = Saga.objects.order_by("pk").first()
for path in json.loads(sys.argv[1]):
    path = path.replace("<saga id>", saga.pk)
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    if "/api/" in path:
        print(path, sorted(s["state"] for s in answer.json()["results"]))
    else:
        print(path, answer.status_code)
"""


@dataclass
class Reader:
    """Someone following the tutorial: where they are and what they run."""

    home: Path
    env: dict[str, str]
    names: dict[str, str]
    project: Path | None = None
    engine: subprocess.Popen[bytes] | None = None
    engine_log: Path | None = None
    sessions: list[tuple[int, str]] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)

    @property
    def python(self) -> str:
        assert self.project is not None
        return str(self.project / ".venv" / "bin" / "python")

    def run(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            args,
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{shlex.join(args)} failed:\n{output}"
        return output

    # -- the shell commands ------------------------------------------------
    def follow(self, command: str) -> str:
        """Do what ``command`` does; the output to compare with a text block after it."""
        self.followed.append(command)
        words = shlex.split(command)
        if made := re.fullmatch(r"mkdir (\S+) && cd \1", command):
            self.project = self.home / made[1]
            self.project.mkdir()
            return ""
        assert self.project is not None, f"{command!r} before the tutorial made its directory"
        if words == ["python3", "-m", "venv", ".venv"]:
            self.make_venv(self.project / ".venv")
            return ""
        if words in ([".", ".venv/bin/activate"], ["source", ".venv/bin/activate"]):
            venv = self.project / ".venv"
            self.env["VIRTUAL_ENV"] = str(venv)
            self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env['PATH']}"
            return ""
        if words == ["pip", "install", "/path/to/django-saga"]:
            return self.install_checkout()
        if words[0] == "django-admin":
            return self.run(self.python, "-m", "django", *words[1:])
        if words == ["python", "manage.py", "saga_engine"]:
            self.start_engine()
            return self.engine_output()
        if words in (
            ["python", "manage.py", "createsuperuser"],
            ["python", "manage.py", "runserver"],
        ):
            return ""  # the console check stands in for both
        if words[:2] == ["python", "manage.py"]:
            return self.run(self.python, *words[1:])
        pytest.fail(f"docs/tutorial.md runs {command!r}, which this test does not follow yet")

    def make_venv(self, venv: Path) -> None:
        """A virtualenv that sees this suite's packages, so nothing is downloaded."""
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        inner = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        (Path(inner) / "suite_packages.pth").write_text("\n".join(sorted(ours)) + "\n")

    def install_checkout(self) -> str:
        """``pip install <checkout>``, without the dependencies the venv already sees."""
        args = [self.python, "-m", "pip", "install", "--quiet", "--no-deps"]
        try:
            import hatchling  # noqa: F401

            args.append("--no-build-isolation")
        except ImportError:
            pass  # pip fetches the build backend, as it does for a reader
        output = self.run(*args, str(ROOT), timeout=300)
        where = self.run(self.python, "-c", "import django_saga; print(django_saga.__file__)")
        assert where.strip().startswith(str(self.project)), (
            f"django_saga imported from {where.strip()}, not from the project's virtualenv"
        )
        return output

    # -- the engine ----------------------------------------------------------
    def start_engine(self) -> None:
        assert self.project is not None
        self.engine_log = self.project / "engine.log"
        with self.engine_log.open("wb") as log:
            self.engine = subprocess.Popen(
                [self.python, "manage.py", "saga_engine"],
                cwd=self.project,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while "consuming" not in self.engine_output():
            assert self.engine.poll() is None, f"the engine exited:\n{self.engine_output()}"
            assert time.monotonic() < deadline, f"the engine did not start:\n{self.engine_output()}"
            time.sleep(0.1)

    def engine_output(self) -> str:
        return self.engine_log.read_text() if self.engine_log else ""

    def stop_engine(self) -> int:
        """Ctrl-C in the engine's terminal."""
        assert self.engine is not None
        if self.engine.poll() is None:
            self.engine.send_signal(signal.SIGINT)
        try:
            return self.engine.wait(30)
        except subprocess.TimeoutExpired:
            self.engine.kill()
            return self.engine.wait()

    # -- files ---------------------------------------------------------------
    def write(self, path: str, append: bool, text: str) -> None:
        assert self.project is not None
        target = self.project / path
        if append:
            assert target.exists(), f"the tutorial adds to {path}, which does not exist yet"
            if path.endswith("settings.py") and "SAGA = " in text:
                # The suite's broker, with names no other test uses.
                text += f"\n# The test's own broker and names.\nSAGA.update({self.names!r})\n"
            with target.open("a") as handle:
                handle.write("\n" + text)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def run_sessions(self) -> None:
        if not self.sessions:
            return
        assert self.engine is not None, "the tutorial's sessions need the engine running"
        script = self.home / "sessions.json"
        script.write_text(json.dumps(self.sessions))
        self.sessions = []
        done = subprocess.run(
            [self.python, "-c", SESSIONS, str(script)],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (
            f"the tutorial's sessions differ:\n{done.stdout}{done.stderr}\n"
            f"engine log:\n{self.engine_output()}"
        )


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    from tests.chaos.scenario import Broker, broker_names

    names = broker_names(f"test-tutorial-{uuid.uuid4().hex[:8]}", RABBITMQ_URL)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SAGA_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PYTHONUNBUFFERED"] = "1"  # the refund's print() lands among the log lines
    home = tmp_path / "home"
    home.mkdir()
    reader = Reader(home, env, names)
    yield reader
    if reader.engine is not None and reader.engine.poll() is None:
        reader.engine.kill()
        reader.engine.wait()
    Broker(names).delete_topology()


def test_the_tutorial_runs_as_written_and_its_tests_pass(reader: Reader) -> None:
    tutorial = blocks(TUTORIAL)
    expected_log: list[str] = []
    last_output: str | None = None
    for block in tutorial:
        if block.lang == "bash":
            reader.run_sessions()
            for command in block.text.splitlines():
                if command.strip() and not command.startswith("#"):
                    last_output = reader.follow(command.split("  #")[0].strip())
        elif block.lang == "python" and block.text.startswith(">>>"):
            reader.sessions.append((block.line, block.text))
            last_output = None
        elif block.lang in ("python", "ini"):
            mark = FILE_MARK.match(block.text.split("\n", 1)[0])
            assert mark, (
                f"docs/tutorial.md line {block.line}: a code block that names no file "
                "on its first line (# shop/sagas.py, or # mysite/settings.py (add at the end))"
            )
            reader.run_sessions()
            reader.write(mark["path"], bool(mark["append"]), block.text)
            last_output = None
        elif block.lang == "text":
            if "django_saga" in block.text or block.text.startswith("refunded"):
                expected_log += block.text.splitlines()
            else:
                assert last_output is not None, f"line {block.line}: output of what?"
                assert block.text.strip() in last_output, (block.text, last_output)
        else:
            pytest.fail(f"docs/tutorial.md line {block.line}: a {block.lang!r} block")
    reader.run_sessions()

    # The console at the URLs the tutorial lists (createsuperuser, runserver).
    paths = re.findall(r"http://127\.0\.0\.1:8000(/(?:<saga id>|[^\s<>`])*)", TUTORIAL.read_text())
    console = reader.run(reader.python, "-c", CONSOLE, json.dumps(paths))
    assert "/sagas/api/sagas/?state=compensated ['compensated', 'compensated']" in console

    # Ctrl-C, then the engine's log as the tutorial shows it, in order.
    assert reader.stop_engine() == 0, reader.engine_output()
    ids: dict[str, str] = {}
    tutorial_ids: dict[str, str] = {}
    shown_names = {
        reader.names[key]: default
        for key, default in {
            "STEP_QUEUE": "saga.steps",
            "COMPENSATE_QUEUE": "saga.compensate",
            "PRIORITY_QUEUE": "saga.urgent",
        }.items()
    }
    from django_saga.conf import safe_url

    shown_names[safe_url(RABBITMQ_URL)] = "amqp://guest:***@localhost:5672/%2F"
    logged = [normal(line, shown_names, ids) for line in reader.engine_output().splitlines()]
    wanted = [normal(line, {}, tutorial_ids) for line in expected_log]
    rest = iter(logged)
    for line in wanted:  # in order, other lines between them allowed
        assert line in rest, f"the engine did not log, in this order: {line}\n" + "\n".join(logged)
    warnings = [line for line in logged if line.startswith(("WARNING", "ERROR", "Traceback"))]
    assert warnings == [line for line in wanted if line.startswith("WARNING")], warnings

    # The test examples of README.md and the testing guide, pasted into the shop.
    readme = [block for block in file_blocks(README) if block[0].startswith("shop/test")]
    guide = file_blocks(TESTING_GUIDE)
    assert [path for path, _, _ in readme] == ["shop/tests.py"], readme
    assert {"shop/tests.py", "shop/test_orders.py"} <= {path for path, _, _ in guide}, guide
    for path, append, text in guide:
        reader.write(path, append, text)
    for _, append, text in readme:
        reader.write("shop/tests_readme.py", append, text)
    methods = sum(text.count("\n    def test_") for _, _, text in readme + guide)
    tests = reader.run(reader.python, "manage.py", "test", "shop", "--noinput")
    assert f"Ran {methods} tests" in tests and "\nOK" in tests, tests
    pytest_run = reader.run(
        reader.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "shop/test_orders.py"
    )
    assert re.search(r"\b1 passed\b", pytest_run), pytest_run
    assert reader.followed[0].startswith("mkdir"), reader.followed
