"""``sendopt <job> [options]`` — every job (and pipeline) reachable the same way.

A failure ends with one line: what failed, where, and which log to read.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from sendopt.config import ENVIRONMENTS, ConfigLoader
from sendopt.errors import SendoptError
from sendopt.registry import jobs, pipelines


def build_parser() -> argparse.ArgumentParser:
    all_jobs, all_pipelines = jobs(), pipelines()
    listed = "\n".join(f"  {name:20} {job.help}" for name, job in all_jobs.items())
    pipes = "\n".join(f"  {name:20} runs: {' → '.join(steps)}" for name, steps in all_pipelines.items())
    parser = argparse.ArgumentParser(
        prog="sendopt",
        description="Daily marketing decisions on Spark and Delta.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"jobs:\n{listed}\n\npipelines:\n{pipes}\n\ncommands (sendopt <command> --help):\n"
        + "\n".join(f"  {name:20} {text}" for name, text in COMMANDS.items()),
    )
    parser.add_argument("job", choices=sorted([*all_jobs, *all_pipelines]), metavar="job", help="job or pipeline to run")
    parser.add_argument("--env", default="local", choices=ENVIRONMENTS, help="environment overlay (default local)")
    parser.add_argument("--conf", action="append", default=[], metavar="FILE", help="extra YAML overlay (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. world.users=1000")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="business date of the run (sets run.date)")
    parser.add_argument("--region", help="run for this region only")
    parser.add_argument("--brand", help="run for this brand only (with --region)")
    parser.add_argument("--conf-dir", help="folder with base.yaml and the overlays (default: ./conf)")
    trial = parser.add_argument_group("import-trial (a team's own coupon trial; sets coupons.import_trial.*)")
    for flag, key in TRIAL_FLAGS.items():
        trial.add_argument(f"--{flag}", dest=f"trial_{flag}", metavar=flag.upper(), help=f"coupons.{key}")
    parser.add_argument("--request", metavar="JSON|FILE", help="submit-promo-request: the campaign request "
                        "(a JSON object or a JSON file; sets promo.submit)")
    return parser


#: import-trial flags → config keys (``--features`` is comma separated; ``--name`` names the trial).
TRIAL_FLAGS = {"path": "import_trial.path", "treatment": "import_trial.treatment",
               "control": "import_trial.control", "outcome": "import_trial.outcome", "value": "import_trial.value",
               "cost": "import_trial.cost", "features": "import_trial.features", "id": "import_trial.id",
               "name": "trial"}


def trial_overrides(args) -> list[str]:
    out = []
    for flag, key in TRIAL_FLAGS.items():
        value = getattr(args, f"trial_{flag}", None)
        if value is None:
            continue
        if flag == "features":
            parsed = [f.strip() for f in value.split(",") if f.strip()]
        else:
            parsed = value
        out.append(f"coupons.{key}={json.dumps(parsed)}")  # JSON is YAML: strings stay strings ("0")
    return out


#: Commands that are not jobs: long-running processes and the analyst's query (``sendopt serve --help``).
COMMANDS = {"serve": "the web service and operations page (docs/service.md)",
            "worker": "the promo-request worker alone (service.worker.in_process=false)",
            "sql": "run a Spark SQL query over every catalog table (views <layer>_<name>)"}


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", choices=ENVIRONMENTS, help="environment overlay (default local)")
    parser.add_argument("--conf", action="append", default=[], metavar="FILE", help="extra YAML overlay (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. world.users=1000")
    parser.add_argument("--conf-dir", help="folder with base.yaml and the overlays (default: ./conf)")


def command_main(argv: Sequence[str]) -> int:
    """``sendopt serve|worker|sql …``."""
    name = argv[0]
    parser = argparse.ArgumentParser(prog=f"sendopt {name}", description=COMMANDS[name])
    _config_options(parser)
    if name == "serve":
        parser.add_argument("--host", help="address to bind (default service.host, 127.0.0.1)")
        parser.add_argument("--port", type=int, help="port (default service.port, 8080)")
    if name == "sql":
        parser.add_argument("query", help='e.g. "select region, count(*) from raw_customers group by region"')
        parser.add_argument("--limit", type=int, default=50, help="rows printed (default 50)")
        parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    args = parser.parse_args(argv[1:])
    loader = ConfigLoader(args.env, args.conf, args.set, args.conf_dir)
    try:
        if name == "serve":
            from sendopt.service.server import serve

            return serve(loader, args.host, args.port)
        if name == "worker":
            from sendopt.service.server import work

            return work(loader)
        from sendopt.sql import run_sql

        return run_sql(loader, args.query, args.limit, args.format)
    except SendoptError as exc:
        print(f"FAILED {name}: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return command_main(argv)
    args = build_parser().parse_args(argv)
    overrides = list(args.set) + ([f"run.date={args.date}"] if args.date else []) + trial_overrides(args)
    if args.request is not None:
        overrides.append(f"promo.submit={json.dumps(args.request)}")  # a YAML string: the job parses the JSON
    all_jobs = jobs()
    steps = pipelines().get(args.job, (args.job,))
    current = steps[0]
    try:
        from sendopt.runner import run_job

        loader = ConfigLoader(args.env, args.conf, overrides, args.conf_dir)
        spark = None
        for current in steps:
            contexts = run_job(all_jobs[current], loader, args.region, args.brand, spark=spark)
            spark = contexts[0].spark if contexts else spark
    except SendoptError as exc:
        print(f"FAILED {current}: {exc}", file=sys.stderr)
        _point_to_log()
        return 2
    except Exception as exc:
        logging.getLogger("sendopt").exception("job %s crashed", current)
        print(f"FAILED {current}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        _point_to_log()
        return 1
    return 0


def _point_to_log() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            print(f"  full log: {handler.baseFilename}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
