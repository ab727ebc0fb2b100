"""`trunkline run` end to end: the server starts on the simulator, simulated callers complete calls
through the demo hotline (seen in the log), CDRs land in the database, the web admin answers."""
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_trunkline_run_serves_and_completes_demo_calls(tmp_path):
    port = free_port()
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(tmp_path / "var"), TRUNKLINE_REALTIME="0",
               TRUNKLINE_DEMO_INTERVAL="2")
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    proc = subprocess.Popen([exe, "run", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = []
    try:
        deadline = time.monotonic() + 120
        completed = 0
        page = None
        while time.monotonic() < deadline and (completed < 3 or page is None):
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            completed += "call completed" in line
            if page is None and "web admin on" in line:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10).read().decode()
        assert completed >= 3, "".join(log[-30:])
        assert "password" in page.lower()
        assert any("first-run admin account created" in ln for ln in log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    db = sqlite3.connect(tmp_path / "var" / "trunkline.db")
    rows = db.execute("select count(*) from cdrs where outcome='answered'").fetchone()[0]
    assert rows >= 1


def test_trunkline_run_on_china_no7(tmp_path):
    """trunk_signaling = "ss7" with point codes, CIC base and signaling timeslot from the config file: the
    simulated callers reach the demo hotline over SS7 (ISUP on an E1 of the card simulator)."""
    port = free_port()
    conf = tmp_path / "trunkline.toml"
    conf.write_text('board_url = "sim://ss7run?e1=1"\ntrunk_signaling = "ss7"\nss7_opc = "10-20-30"\n'
                    'ss7_dpc = "40-50-60"\nss7_pc_format = "china24"\nss7_cic_base = 0\nss7_signaling_slot = 16\n')
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(tmp_path / "var"), TRUNKLINE_REALTIME="0",
               TRUNKLINE_DEMO_INTERVAL="2", TRUNKLINE_CONFIG=str(conf))
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    proc = subprocess.Popen([exe, "run", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = []
    try:
        deadline = time.monotonic() + 120
        completed = 0
        while time.monotonic() < deadline and completed < 2:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            completed += "call completed" in line
        assert completed >= 2, "".join(log[-30:])
        assert any("ss7 far end" in ln for ln in log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    db = sqlite3.connect(tmp_path / "var" / "trunkline.db")
    assert db.execute("select count(*) from cdrs where outcome='answered'").fetchone()[0] >= 1


def test_trunkline_run_softphone_browser_phones_wired(tmp_path):
    """`trunkline run` puts TRUNKLINE_BROWSER_PHONES WebRTC station ports on the board and says so."""
    port = free_port()
    env = dict(os.environ, TRUNKLINE_VAR_DIR=str(tmp_path / "var"), TRUNKLINE_REALTIME="0",
               TRUNKLINE_DEMO_CALLERS="0", TRUNKLINE_BROWSER_PHONES="3")
    exe = os.path.join(os.path.dirname(sys.executable), "trunkline")
    proc = subprocess.Popen([exe, "run", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            if any("browser phones" in ln for ln in log) and any("dial plan" in ln for ln in log):
                break
        summary = [ln for ln in log if "browser phones" in ln]
        assert summary and "3 WebRTC station ports" in summary[0], "".join(log[-30:])
        # every outbound dial of the running server goes through the dial plan (#16 toll fraud)
        plan = [ln for ln in log if "dial plan" in ln]
        assert plan and "international and premium refused" in plan[0], "".join(log[-30:])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
