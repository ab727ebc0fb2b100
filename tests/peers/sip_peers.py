"""Real SIP peers on loopback for the tests: kamailio (proxy + registrar with digest auth) and baresip
user agents driven through ctrl_tcp (netstring JSON), sending a WAV file and recording what they hear
(sndfile module: dump-*-dec.wav is the audio received)."""
import glob
import json
import os
import shutil
import socket
import subprocess
import time
import wave

import numpy as np

KAMAILIO_CFG = r"""#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("rr", "enable_full_lr", 1)
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("OPTIONS") && $rU == $null) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("REGISTER")) {{
        $var(pw) = "{password}";
        if (!pv_www_authenticate("$td", "$var(pw)", "0")) {{ www_challenge("$td", "0"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE|REFER")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""

BARESIP_CFG = """poll_method poll
sip_listen 127.0.0.1:{sip_port}
call_local_timeout 120
call_max_calls 4
audio_path {dir}
audio_player aubridge,{name}
audio_source aufile,{wav}
audio_alert aubridge,{name}
rtp_ports {rtp_lo}-{rtp_hi}
rtp_timeout 0
jitter_buffer_delay 1-10
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {dir}
"""


def free_port(kind=socket.SOCK_DGRAM, both=True):
    """A port free for UDP (and TCP) on loopback."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not both:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise OSError("no free port")


def write_tone(path, freq, seconds, amplitude=8000, rate=8000):
    """A mono S16LE WAV with a sine tone (what baresip's aufile sends)."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def read_wav(path):
    """int16 samples and rate of a WAV file."""
    with wave.open(path, "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0]
        return data.astype(np.int16), w.getframerate()


def tone_power(pcm, freq, rate=8000):
    """Fraction of the signal's power at `freq` (Goertzel over the whole block); 0 for silence."""
    x = np.asarray(pcm, dtype=np.float64)
    if len(x) == 0 or not np.any(x):
        return 0.0
    n = np.arange(len(x))
    ref = np.exp(-2j * np.pi * freq * n / rate)
    return float(2 * abs(np.dot(x, ref)) ** 2 / len(x) / np.dot(x, x))


class Kamailio:
    """kamailio as proxy and registrar on 127.0.0.1:port; every user's password is `password`."""

    def __init__(self, workdir, password="secret"):
        self.port = free_port()
        self.password = password
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.cfg = os.path.join(workdir, "kamailio.cfg")
        with open(self.cfg, "w") as f:
            f.write(KAMAILIO_CFG.format(port=self.port, password=password))
        pidfile = os.path.join(workdir, "kamailio.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.log = open(os.path.join(workdir, "kamailio.log"), "w")
        self.proc = subprocess.Popen(["kamailio", "-f", self.cfg, "-DD", "-E", "-n", "1",
                                      "-P", os.path.join(workdir, "kamailio.pid"), "-Y", workdir],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("kamailio did not start: " + open(self.log.name).read()[-2000:])

    def stop(self):
        """Terminate it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Baresip:
    """A baresip user agent registered as `user` at kamailio, sending `wav`, driven through ctrl_tcp."""

    def __init__(self, workdir, name, user, registrar_port, wav, password="secret"):
        self.dir = os.path.join(workdir, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.name, self.user = name, user
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM, both=False)
        rtp_lo = free_port(both=False) & ~1
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write(BARESIP_CFG.format(sip_port=self.sip_port, dir=self.dir, name=name, wav=wav,
                                       ctrl_port=self.ctrl_port, rtp_lo=rtp_lo, rtp_hi=rtp_lo + 40))
        # registrar_port None: no registrar, calls go straight to the URI dialled
        self.aor = f"sip:{user}@127.0.0.1:{registrar_port}" if registrar_port else f"sip:{user}@127.0.0.1"
        regint = 60 if registrar_port else 0
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(f"<{self.aor}>;auth_pass={password};regint={regint};answermode=manual;"
                    f"audio_codecs=PCMA,PCMU;dtmfmode=rtpevent\n")
        self.log = open(os.path.join(self.dir, "baresip.log"), "w")
        self.proc = subprocess.Popen(["baresip", "-f", self.dir], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        self.sock = None
        while time.monotonic() < deadline:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5)
                break
            except OSError:
                time.sleep(0.1)
        if self.sock is None:
            self.stop()
            raise RuntimeError(f"baresip {name} did not start: " + self.log_text()[-2000:])
        self.sock.settimeout(0.2)
        self._buf = b""
        self.events = []

    def log_text(self):
        """Its log so far."""
        self.log.flush()
        return open(self.log.name, errors="replace").read()

    def command(self, command, params=""):
        """Send a ctrl_tcp command (dial, accept, hangup, hold, resume, sndcode, transfer, reginfo)."""
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def _pump(self):
        try:
            data = self.sock.recv(65536)
            if data:
                self._buf += data
        except (socket.timeout, BlockingIOError):
            pass
        while b":" in self._buf:
            head, _, rest = self._buf.partition(b":")
            if not head.isdigit() or len(rest) < int(head) + 1:
                break
            n = int(head)
            msg, self._buf = rest[:n], rest[n + 1:]
            try:
                self.events.append(json.loads(msg))
            except ValueError:
                pass

    def wait_event(self, kind, timeout=10.0):
        """The next event of `kind` (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK...)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pump()
            for i, ev in enumerate(self.events):
                if ev.get("event") and ev.get("type") == kind:
                    del self.events[i]
                    return ev
            time.sleep(0.02)
        raise TimeoutError(f"baresip {self.name}: no {kind} within {timeout} s; events {self.events[-10:]}\n"
                           + self.log_text()[-3000:])

    def wait_registered(self, timeout=10.0):
        """Wait until the registrar accepted our REGISTER (the log line baresip prints)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "200 OK" in self.log_text():
                return
            time.sleep(0.05)
        raise TimeoutError(f"baresip {self.name} not registered: " + self.log_text()[-2000:])

    def clear_events(self):
        """Forget events seen so far."""
        self._pump()
        self.events.clear()

    def received_audio(self):
        """What the newest call's far end sent us, decoded (the sndfile dump of the decoder side)."""
        files = sorted(glob.glob(os.path.join(self.dir, "dump-*-dec.wav")), key=os.path.getmtime)
        if not files:
            return np.zeros(0, dtype=np.int16), 8000
        return read_wav(files[-1])

    def stop(self):
        """Quit baresip."""
        if self.sock is not None:
            try:
                self.command("quit")
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
