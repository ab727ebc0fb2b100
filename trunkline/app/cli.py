"""The `trunkline` command line: run the server, or simulate callers against the demo hotline."""
import argparse
import asyncio
import logging
import os
import sys

from trunkline.app import admin_cli
from trunkline.app.backup import BackupError, backup, restore
from trunkline.app.cards import cards_report
from trunkline.app.server import serve
from trunkline.app.simulate import run_simulation
from trunkline.data.config import load_config
from trunkline.drivers.backends.dahdi import DahdiError, scan
from trunkline.hw_sim.dahdi_emu import preload_env, shim_loaded


def _simulate(args):
    if args.channels < 1 or args.calls < 0:
        print("trunkline simulate: --channels must be >= 1 and --calls >= 0", file=sys.stderr)
        return 2
    if args.board == "dahdi" and not shim_loaded():
        # the emulated /dev/dahdi lives in an LD_PRELOAD shim: start again with it preloaded
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "trunkline.app.cli", *args.argv], preload_env())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = asyncio.run(run_simulation(args.calls, args.channels, trunk=args.trunk, virtual=args.virtual,
                                        seed=args.seed, progress=not args.quiet, board=args.board))
    print(f"calls={result['calls']} answered={result['answered']} completed={result['completed']} "
          f"failed={result['failed']}")
    return 0 if result["failed"] == 0 else 1


def _run(args):
    cfg = load_config(args.config)
    if args.board:
        cfg.board_url = args.board
    if args.port:
        cfg.http_port = args.port
    if args.no_demo_callers:
        cfg.demo_callers = False
    if cfg.board_url.startswith("dahdi://"):
        try:   # start-up check: DAHDI loaded, spans configured (the board opens each channel later)
            spans = scan()
            if not any(sp["numchans"] for sp in spans):
                raise DahdiError("no DAHDI span has configured channels: configure /etc/dahdi/system.conf, "
                                 "run dahdi_cfg")
        except DahdiError as exc:
            print(f"trunkline run: cannot use {cfg.board_url}: {exc}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        print("trunkline: stopped", file=sys.stderr)
    return 0


def _cards(args):
    try:
        print(cards_report())
    except DahdiError as exc:
        print(f"trunkline cards: {exc}", file=sys.stderr)
        return 1
    return 0


def _config_path(arg: str | None) -> str | None:
    path = arg or os.environ.get("TRUNKLINE_CONFIG")
    return path or ("trunkline.toml" if os.path.exists("trunkline.toml") else None)


def _backup(args):
    path = _config_path(args.config)
    try:
        res = backup(load_config(path), args.file, path)
    except BackupError as e:
        print(f"trunkline admin backup: {e}", file=sys.stderr)
        return 1
    print(f"backup written: {args.file} ({res.database} database, {res.files} files, {res.bytes} bytes)")
    return 0


def _restore(args):
    path = _config_path(args.config)
    if path and os.path.exists(path) and not args.force:
        print(f"trunkline admin restore: configuration file {path} exists (use --force to overwrite)",
              file=sys.stderr)
        return 1
    cfg = load_config(path if path and os.path.exists(path) else None)
    try:
        res = restore(args.file, cfg, config_path=path, force=args.force)
    except BackupError as e:
        print(f"trunkline admin restore: {e}", file=sys.stderr)
        return 1
    print(f"restored: {args.file} into {os.path.abspath(cfg.var_dir)} ({res.database} database, {res.files} files)")
    return 0


def _backup_parsers(asub) -> None:
    """`trunkline admin backup FILE` and `trunkline admin restore FILE` beside the admin's login commands."""
    b = asub.add_parser("backup", help="write database, recordings, prompts, flows and configuration to FILE "
                        "(safe while the server runs)")
    b.add_argument("file", metavar="FILE", help="archive to write (.tar.gz)")
    b.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file (included in the archive)")
    b.set_defaults(func=_backup)
    r = asub.add_parser("restore", help="restore FILE onto a fresh install (var_dir and database from the "
                        "environment / --config; the archived configuration file is written to --config)")
    r.add_argument("file", metavar="FILE", help="archive written by `trunkline admin backup`")
    r.add_argument("--config", default=argparse.SUPPRESS, help="where to write the archived configuration file")
    r.add_argument("--force", action="store_true", help="overwrite a non-empty target")
    r.set_defaults(func=_restore)


def main(argv=None):
    """Entry point of the `trunkline` command."""
    p = argparse.ArgumentParser(prog="trunkline", description="Telephony card driver and media server")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="start the server on the configured board (simulator by default)")
    r.add_argument("--config", help="TOML configuration file")
    r.add_argument("--board", help="board URL, e.g. sim://default")
    r.add_argument("--port", type=int, help="web admin port (default 8080)")
    r.add_argument("--no-demo-callers", action="store_true", help="do not start simulated callers")
    r.set_defaults(func=_run)
    s = sub.add_parser("simulate", help="run simulated callers through the demo hotline")
    s.add_argument("--calls", type=int, required=True, help="number of calls")
    s.add_argument("--channels", type=int, required=True, help="channels on the simulated board")
    s.add_argument("--trunk", choices=["analog", "pri", "r2", "ss7", "sip"], default="analog",
                   help="trunk signaling")
    s.add_argument("--virtual", action="store_true", help="virtual time: as fast as the CPU allows")
    s.add_argument("--seed", type=int, default=1, help="random seed for arrivals and caller behaviour")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--board", choices=["sim", "dahdi"], default="sim",
                   help="sim: the card simulator's own backend; dahdi: the dahdi:// backend on an emulated /dev/dahdi")
    s.set_defaults(func=_simulate)
    c = sub.add_parser("cards", help="list DAHDI spans, channels, signalling, alarms and counters")
    c.set_defaults(func=_cards)
    _backup_parsers(admin_cli.add_parser(sub))
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
