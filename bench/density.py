"""All density reports in one run: engine channels/core, then DTMF ours vs spandsp."""
import importlib
import sys


def main():
    """Run each report module's main()."""
    for name in ("bench.engine_density", "bench.dtmf_density"):
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:
            print(f"{name}: not available ({exc})", file=sys.stderr)
            continue
        mod.main([])
        print()


if __name__ == "__main__":
    main()
