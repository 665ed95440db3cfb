"""Child processes of tests: stopped whatever state they are in, their output read with deadlines."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time


def stop_process(proc: subprocess.Popen, *, grace: float = 10.0, group: bool = True) -> None:
    """End `proc` whatever state it is in, with everything in its process group when it leads
    one (started with `start_new_session`), and close its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    if group:
        try:  # the group outlives its leader when the leader left children behind
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


class Child:
    """A child process a test started (`spawn`): lines of its stdout with a deadline, so a child
    that prints nothing fails the test instead of hanging it."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._buffer = b""

    def readline(self, timeout: float) -> str:
        """The next line of stdout ('' at its end); TimeoutError when none comes in `timeout` s."""
        assert self.proc.stdout is not None, "spawn the child with stdout=PIPE"
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from {self.proc.args!r} in {timeout:.0f}s; so far: {self._buffer!r}")
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    line, self._buffer = self._buffer, b""
                    return line.decode()
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode() + "\n"

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the exit (TimeoutExpired after `timeout` s): (exit code, rest of stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        rest = self._buffer + (out or b"")
        self._buffer = b""
        return self.proc.returncode, rest.decode(errors="replace"), (err or b"").decode(errors="replace")
