"""A `trunkline run` process for end-to-end tests (simulator, virtual time): its output lines collected."""
import os
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `trunkline run` process; its output lines collected by a thread."""

    def __init__(self, var_dir, port, demo=False, realtime=False):
        env = dict(os.environ, TRUNKLINE_VAR_DIR=str(var_dir), TRUNKLINE_REALTIME="1" if realtime else "0",
                   TRUNKLINE_DEMO_CALLERS="1" if demo else "0", TRUNKLINE_DEMO_INTERVAL="1")
        exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
        self.proc = subprocess.Popen([exe, "run", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ln in list(self.lines):
                if text in ln:
                    return ln
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in server output:\n" + "".join(self.lines[-40:]))

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
