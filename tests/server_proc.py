"""A real `trunkline run` process for end-to-end tests: its output lines collected by a thread."""
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time

import soundfile as sf


def free_port():
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `trunkline run --port PORT` process on `var_dir`, with TRUNKLINE_* settings from `env`."""

    def __init__(self, var_dir, port=None, **env):
        self.port = port or free_port()
        full = dict(os.environ, TRUNKLINE_VAR_DIR=str(var_dir))
        full.update({f"TRUNKLINE_{k.upper()}": str(v) for k, v in env.items()})
        exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
        self.proc = subprocess.Popen([exe, "run", "--port", str(self.port)], env=full, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        """Everything the server printed so far."""
        return "".join(self.lines)

    def wait_for(self, text, timeout=90.0):
        """The first output line containing `text`; AssertionError after `timeout` s or when the process ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ln in list(self.lines):
                if text in ln:
                    return ln
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in server output:\n" + "".join(self.lines[-40:]))

    def signal(self, sig=signal.SIGTERM):
        """Send `sig` to the server."""
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """The exit code; AssertionError when the process is still running after `timeout` s."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server still running after {timeout} s:\n" + "".join(self.lines[-40:])) from None

    def kill(self):
        """SIGKILL, and reap it."""
        self.proc.kill()
        self.proc.wait(timeout=30)


def wav_is_final(path):
    """The RIFF and data sizes agree with the file length, and every frame reads back (one track or two:
    a frame is the fmt chunk's block align)."""
    with open(path, "rb") as f:
        head = f.read(44)
    size = os.path.getsize(path)
    riff, data = struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<I", head, 40)[0]
    block_align = struct.unpack_from("<H", head, 32)[0]
    return (head[:4] == b"RIFF" and head[36:40] == b"data" and riff == size - 8 and data == size - 44
            and block_align > 0 and sf.info(path).frames == data // block_align)


def cdrs(var):
    """call_id -> (outcome, end) of every stored CDR."""
    db = sqlite3.connect(var / "trunkline.db")
    try:
        return {r[0]: r[1:] for r in db.execute('select call_id, outcome, "end" from cdrs')}
    finally:
        db.close()
