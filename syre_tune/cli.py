"""``syre-tune``: run studies on Ray Tune, list what exists, analyse results.

    syre-tune run STUDY [--smoke] [--storage DIR] [--name NAME] [--address ADDR] [--overwrite]
    syre-tune list
    syre-tune analyze RESULTS_DIR [--out DIR]

A mistake the user can make (bad study file, missing results, unreachable cluster) prints one
line on stderr and exits with status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_USAGE = 2
DEFAULT_STORAGE = "results"


class UsageError(Exception):
    """One line for the user; exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syre-tune", description="Study symmetry removal (syre) at scale.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a study file through Ray Tune, then draw its figures")
    run.add_argument("study", help="a study YAML file (see studies/)")
    run.add_argument("--smoke", action="store_true", help="apply the study's smoke: block (a few CPU minutes)")
    run.add_argument("--storage", default=DEFAULT_STORAGE, help=f"where results go (default: ./{DEFAULT_STORAGE})")
    run.add_argument("--name", help="the study's folder name (default: the file's stem)")
    run.add_argument("--address", help="a Ray cluster address (default: start an embedded local Ray)")
    run.add_argument("--overwrite", action="store_true", help="replace existing results of the same name")
    run.add_argument("--no-analyze", action="store_true", help="skip drawing the figures")

    commands.add_parser("list", help="list benchmarks and the studies in ./studies")

    analyze = commands.add_parser("analyze", help="draw figures and tables from a results folder")
    analyze.add_argument("results_dir", help="<storage>/<study> (or a folder of several studies)")
    analyze.add_argument("--out", help="where figures go (default: <study>/figures)")
    return parser


def _cmd_list() -> int:
    from syre_tune import benchmarks

    print("benchmarks:")
    for name in benchmarks.available():
        bench = benchmarks.get(name)
        print(f"  {name:<20} {bench.summary}")
        print(f"  {'':<20} metrics: {', '.join(bench.metrics)}")
    studies = sorted(Path("studies").glob("*.yaml"))
    if studies:
        import yaml

        print("studies:")
        for path in studies:
            try:
                document = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError:
                document = {}
            print(f"  {str(path):<32} {document.get('description', '')}")
    return 0


def _targets(studies: list, storage: Path, name: str | None, source: Path) -> list[Path]:
    if len(studies) == 1:
        return [storage / (name or studies[0].name)]
    return [storage / (name or source.stem) / study.name for study in studies]


def _cmd_run(args: argparse.Namespace) -> int:
    from syre_tune import study as study_module

    source = Path(args.study)
    try:
        studies = study_module.load(source, smoke=args.smoke, name=args.name)
    except study_module.StudyError as error:
        raise UsageError(str(error)) from None
    storage = Path(args.storage)
    if storage.exists() and not storage.is_dir():
        raise UsageError(f"--storage {storage}: exists and is not a folder")
    targets = _targets(studies, storage, args.name, source)
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise UsageError(f"{existing[0]} already exists: pass --overwrite, or choose another --name / --storage")
    nearest = next(p for p in (storage.resolve(), *storage.resolve().parents) if p.exists())
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        raise UsageError(f"--storage {storage}: {nearest} is not a writable folder")
    for target in existing:
        shutil.rmtree(target)

    from syre_tune import analysis, runner

    failed = False
    try:
        for study, target in zip(studies, targets):
            print(
                f"[syre-tune] study {study.name}: {study.num_trials} trials of {study.benchmark} "
                f"({len(study.seeds)} seeds) -> {target}",
                flush=True,
            )
            summary = runner.run_study(study, target, address=args.address)
            print(
                f"[syre-tune] {study.name}: {summary.trials} trials, {summary.rows} rows in "
                f"{summary.wall_s:.1f} s -> {target / 'results'}",
                flush=True,
            )
            if summary.errored:
                failed = True
                print(f"[syre-tune] {study.name}: failed trials: {', '.join(summary.errored)}", file=sys.stderr)
            if not args.no_analyze and summary.rows:
                for path in analysis.analyze(target):
                    print(f"[syre-tune]   wrote {path}")
    except runner.RunError as error:
        raise UsageError(str(error)) from None
    finally:
        runner.shutdown()
    return 1 if failed else 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from syre_tune import analysis

    try:
        folders = analysis.study_dirs(args.results_dir)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    for folder in folders:
        out = Path(args.out) / folder.name if args.out and len(folders) > 1 else args.out
        for path in analysis.analyze(folder, out):
            print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_analyze(args)
    except UsageError as error:
        print(f"syre-tune: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("syre-tune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
