"""py-spy on an engine during a run, and a summary of where its time went.

Sampling from outside (``--profile``) leaves the engine's code as it runs in
production.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path


class Profiler:
    """``py-spy record --format raw`` of one process while the run goes on.

    By default py-spy samples every thread that is not idle (waits on a
    socket count as running); with ``gil`` only the thread holding the GIL,
    which shows where the process spends Python CPU time.
    """

    def __init__(self, pid: int, output: Path, log: Path, gil: bool = False) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.output = output
        self._log = log.open("wb")
        command = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "100"]
        if gil:
            command.append("--gil")
        self.process = subprocess.Popen(
            [*command, "--output", str(output)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")


def profile_summary(path: Path, top: int = 15) -> str:
    """Top entries of a py-spy raw (collapsed stacks) file: by package, self and inclusive."""
    if not path.exists():
        return f"no profile at {path}"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1][0]] += count
        packages[frames[-1][1]] += count
        for name in {f[0] for f in frames}:
            inclusive[name] += count
    if not total:
        return "the profile holds no samples"

    def rows(counter: Counter[str], skip: Callable[[str], bool] = lambda _: False) -> list[str]:
        picked = [(k, v) for k, v in counter.most_common() if not skip(k)][:top]
        return [f"  {v / total:6.1%}  {k}" for k, v in picked]

    outer = ("threading.py", "_bootstrap", "<module>", "runpy.py", "__main__")
    return "\n".join(
        [
            f"{total} samples",
            "where time goes, by package of the innermost frame:",
            *rows(packages),
            f"top {top} functions by own time:",
            *rows(own),
            f"top {top} functions by inclusive time (thread and process entry frames left out):",
            *rows(inclusive, lambda k: any(o in k for o in outer)),
            f"top {top} django_saga functions by inclusive time:",
            *rows(inclusive, lambda k: "(django_saga/" not in k),
        ]
    )


def _frame(text: str) -> tuple[str, str]:
    """("function (path.py)", package) of one py-spy frame; stdlib modules are marked."""
    match = _FRAME.match(text)
    if not match:
        return text, "?"
    func, file = match["func"], match["file"]
    top = file.split("/", 1)[0].removesuffix(".py")
    package = f"stdlib {top}" if top in sys.stdlib_module_names else top
    return f"{func} ({file})", package
