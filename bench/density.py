"""All density reports in one run: engine channels/core, then DTMF ours vs spandsp."""
from bench import dtmf_density, engine_density


def main():
    """Run each report module's main()."""
    for mod in (engine_density, dtmf_density):
        mod.main([])
        print()


if __name__ == "__main__":
    main()
