"""``python -m benchmarks <name> [args]`` runs ``benchmarks/bench_<name>.py:main(args)``."""
import importlib
import pkgutil
import sys

import benchmarks


def available() -> list[str]:
    return sorted(m.name[6:] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def run(argv: list[str]) -> int:
    if not argv or argv[0] not in available():
        print(f"usage: python -m benchmarks <name> [args]; available: {', '.join(available())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.bench_{argv[0]}")
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
