"""``syre-tune``: run studies on Ray Tune, list what exists, analyse results.

    syre-tune run STUDY [--smoke] [--dry-run] [--storage DIR|URI] [--name NAME] [--address ADDR] [--overwrite]
    syre-tune status NAME [--storage DIR|URI]
    syre-tune resume NAME [--storage DIR|URI] [--address ADDR]
    syre-tune list
    syre-tune analyze RESULTS_DIR|URI [--out DIR]

``--storage`` is a local folder or a URI pyarrow.fs understands (file://, s3://, gs://); on a
cluster it must be storage every node reaches. A mistake the user can make (bad study file,
missing results, unreachable cluster, unusable storage) prints one line on stderr and exits with
status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syre_tune import _secrets, layout

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl+C stopped
PROBE_TIMEOUT_S = 30
DEFAULT_STORAGE = "results"


class UsageError(Exception):
    """One line for the user; exit status 2."""


VERBOSE_HELP = "show Ray's trial table, its log lines and the trials' output instead of one progress line per study"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syre-tune", description="Study symmetry removal (syre) at scale.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a study file through Ray Tune, then draw its figures")
    run.add_argument("study", help="a study YAML file (see studies/)")
    run.add_argument("--smoke", action="store_true", help="apply the study's smoke: block (a few CPU minutes)")
    run.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"folder or URI where results go (default: ./{DEFAULT_STORAGE})"
    )
    run.add_argument("--name", help="the study's folder name (default: the file's stem)")
    run.add_argument("--address", help="a Ray cluster address (default: start an embedded local Ray)")
    run.add_argument("--overwrite", action="store_true", help="replace existing results of the same name")
    run.add_argument("--no-analyze", action="store_true", help="skip drawing the figures")
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    run.add_argument(
        "--dry-run", action="store_true", help="print trials, seeds, rows, Parquet size and memory; write nothing"
    )
    run.add_argument(
        "--download", action="store_true", help="download a missing data set into the data root (needs internet)"
    )

    status = commands.add_parser("status", help="how many trials of a study are done, running, failed, pending")
    status.add_argument("name", help="the study's folder name under --storage")
    status.add_argument("--storage", default=DEFAULT_STORAGE, help=f"default: ./{DEFAULT_STORAGE}")

    resume = commands.add_parser("resume", help="finish an interrupted study (Ray Tune's Tuner.restore)")
    resume.add_argument("name", help="the study's folder name under --storage")
    resume.add_argument("--storage", default=DEFAULT_STORAGE, help=f"default: ./{DEFAULT_STORAGE}")
    resume.add_argument("--address", help="a Ray cluster address (default: start an embedded local Ray)")
    resume.add_argument("--no-analyze", action="store_true", help="skip drawing the figures")
    resume.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    resume.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)  # refused: one clear line

    listing = commands.add_parser("list", help="list benchmarks and the studies in ./studies, or one benchmark's keys")
    listing.add_argument("benchmark", nargs="?", help="a benchmark: every config key, its methods, metrics and figures")

    analyze = commands.add_parser("analyze", help="draw figures and tables from a results folder")
    analyze.add_argument("results_dir", help="<storage>/<study> (or a folder of several studies)")
    analyze.add_argument("--out", help=f"where figures go (default: <study>/{layout.FIGURES_DIR})")
    return parser


def _cmd_list(name: str | None = None) -> int:
    from syre_tune import benchmarks

    if name is not None:
        return _list_benchmark(name)
    print("benchmarks:")
    for name in benchmarks.available():
        about = benchmarks.describe(name)  # from the source: no torch/torchvision import, so it stays fast
        print(f"  {name:<20} {about.summary}")
        print(f"  {'':<20} metrics: {', '.join(about.metrics)}")
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


def _list_benchmark(name: str) -> int:
    """Every key a study of benchmark ``name`` may set (type, default, meaning), its methods,
    metrics and figures: from its typed Config and docstrings; nothing runs."""
    from syre_tune import benchmarks
    from syre_tune.analysis.figures import figures_for
    from syre_tune.study import did_you_mean

    try:
        bench = benchmarks.get(name)
    except benchmarks.ConfigError as error:
        hint = did_you_mean(name, benchmarks.available())
        raise UsageError(f"no benchmark {name!r}{hint}; expected {error.expected}") from None
    print(f"{bench.name}: {bench.summary}")
    print(f"methods: {', '.join(bench.methods)}")
    print(f"metrics: {', '.join(bench.metrics)}")
    figures = figures_for(bench.name)
    doc = ""
    if not figures.source.startswith("register("):
        import importlib

        first = (importlib.import_module(figures.source).__doc__ or "").strip().split("\n\n")[0]
        doc = f": {' '.join(first.split())}" if first else ""
    print(f"figures: {figures.source}{doc}")
    print("config (set under config: or sweep:; seeds and the device come from the study and the runner):")
    found = benchmarks.settings(bench)
    width = max(len(s.name) for s in found)
    kinds = max(len(s.type.replace(" ", "")) for s in found)
    for setting in found:
        default = "null" if setting.default is None else repr(setting.default)
        kind = setting.type.replace(" ", "")
        print(f"  {setting.name:<{width}}  {kind:<{kinds}}  {default:<12} {setting.doc}")
    return 0


def _within(seconds: float, what: str, action: Any) -> Any:
    """``action()``, or one clear line if it does not answer in time (object stores retry for
    minutes when the network or the credentials are missing)."""
    outcome: list[tuple[bool, Any]] = []

    def attempt() -> None:
        try:
            outcome.append((True, action()))
        except BaseException as error:  # re-raised below, in the main thread
            outcome.append((False, error))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise UsageError(f"{what}: no answer within {seconds:g} s (network or credentials?)")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _storage(text: str) -> Any:
    from syre_tune import results

    try:
        where = results.location(text)
    except results.StorageError as error:
        raise UsageError(f"--storage {error}") from None

    def inspect() -> Any:
        if where.exists() and not where.is_dir():
            raise UsageError(f"--storage {text}: exists and is not a folder")
        return where

    try:
        return _within(PROBE_TIMEOUT_S, f"--storage {text}", inspect)
    except OSError as error:
        raise UsageError(f"--storage {text}: cannot read it: {str(error).splitlines()[0]}") from None


def _check_writable(storage: Any) -> None:
    """Without creating anything: local folders by their permissions, other storage by writing
    and deleting one probe file."""
    from syre_tune import results

    if storage.local is not None:
        nearest = next(p for p in (storage.local, *storage.local.parents) if p.exists())
        if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
            raise UsageError(f"--storage {storage}: {nearest} is not a writable folder")
        return
    probe = storage / f".syre-tune-probe-{uuid.uuid4().hex}"
    try:
        _within(PROBE_TIMEOUT_S, f"--storage {storage}", lambda: (results.write_text_atomic("", probe), probe.remove()))
    except OSError as error:
        raise UsageError(f"--storage {storage}: cannot write there: {str(error).splitlines()[0]}") from None


def _targets(studies: list, storage: Any, name: str | None, source: Path) -> list[Any]:
    if len(studies) == 1:
        return [storage / (name or studies[0].name)]
    return [storage / (name or source.stem) / study.name for study in studies]


def _resume_command(name: str, storage: str) -> str:
    """The command that finishes study ``name``; credentials in the storage URI are left out
    (this process moved them into its environment, which is where a resume finds them too)."""
    clean = _secrets.strip_credentials(storage)
    note = "  (with the storage credentials in the environment)" if clean != storage else ""
    return f"syre-tune resume {name} --storage {clean}{note}"


def _interrupted(study: str, ended: int | None, planned: int, resume: str) -> None:
    done = "" if ended is None else f"{ended} of {planned} trials finished; "
    print(f"[syre-tune] {study}: interrupted: {done}no figures drawn. Finish it with:", file=sys.stderr)
    print(f"  {resume}", file=sys.stderr, flush=True)


def _report(summary: Any, target: Any, analyze: bool) -> bool:
    """Print a study's outcome (and draw its figures); whether any trial failed."""
    from syre_tune import analysis

    print(
        f"[syre-tune] {summary.study}: {summary.trials} trials, {summary.rows} rows in "
        f"{summary.wall_s:.1f} s -> {target / layout.RESULTS_DIR}",
        flush=True,
    )
    if summary.stopped:
        print(f"[syre-tune] {summary.study}: {len(summary.stopped)} trials stopped early by the scheduler")
    if summary.diverged:
        print(f"[syre-tune] {summary.study}: diverged trials (NaN/inf loss): {', '.join(summary.diverged)}")
    if summary.errored:
        print(f"[syre-tune] {summary.study}: failed trials: {', '.join(summary.errored)}", file=sys.stderr)
    if analyze and summary.rows:
        _written(analysis.analyze(target), "[syre-tune]   ")
    return bool(summary.errored)


def _written(paths: list[Any], prefix: str) -> None:
    """A study's headline (its main result, three lines), then the paths ``analyze`` wrote."""
    from syre_tune import analysis

    for line in analysis.headline(paths):
        print(f"  {line}")
    for path in paths:
        print(f"{prefix}wrote {path}")


def _cmd_run(args: argparse.Namespace) -> int:
    from syre_tune import study as study_module

    source = Path(args.study)
    try:
        studies = study_module.load(source, smoke=args.smoke, name=args.name, download=args.download)
    except study_module.StudyError as error:
        raise UsageError(str(error)) from None
    if args.dry_run:
        from syre_tune import sizing

        for study in studies:
            print("\n".join(sizing.describe(sizing.estimate(study))))
        return 0
    storage = _storage(args.storage)
    targets = _targets(studies, storage, args.name, source)
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise UsageError(f"{existing[0]} already exists: pass --overwrite, or choose another --name / --storage")
    _check_writable(storage)
    for target in existing:
        target.remove()

    from syre_tune import runner

    def announce(study: Any) -> str:
        return f"study {study.name}: {study.num_trials} trials of {study.benchmark} ({len(study.seeds)} seeds)"

    name = args.name or (studies[0].name if len(studies) == 1 else source.stem)
    return _drive(list(zip(studies, targets)), runner.run_study, announce, args, name)


def _drive(todo: list[tuple[Any, Any]], start: Any, announce: Any, args: argparse.Namespace, name: str) -> int:
    """``start(study, folder)`` (runner.run_study / resume_study) for each, announced by
    ``announce(study)`` and then reported; Ray is stopped at the end. Exit status 1 if any trial
    failed; 130 if interrupted (Ctrl+C), after saying how to finish (``syre-tune resume name``)."""
    from syre_tune import runner

    failed = False
    resume = _resume_command(name, args.storage)
    try:
        for index, (study, folder) in enumerate(todo):
            print(f"[syre-tune] {announce(study)} -> {folder}", flush=True)
            try:
                summary = start(study, folder, address=args.address, verbose=args.verbose)
            except KeyboardInterrupt:  # a second Ctrl+C, or one between two waves
                runner.mark_interrupted(folder)
                _interrupted(study.name, None, study.num_trials, resume)
                return EXIT_INTERRUPTED
            if summary.interrupted is not None:
                _interrupted(study.name, summary.interrupted, summary.planned, resume)
                later = [later.name for later, _ in todo[index + 1 :]]
                if later:
                    print(f"[syre-tune] not started: {', '.join(later)}", file=sys.stderr)
                return EXIT_INTERRUPTED
            failed |= _report(summary, folder, not args.no_analyze)
    except runner.RunError as error:
        raise UsageError(str(error)) from None
    finally:
        runner.shutdown()
    return 1 if failed else 0


def _study_folders(args: argparse.Namespace) -> list[Any]:
    """The study folders NAME names under --storage: itself, or the studies of a multi-study file."""
    from syre_tune import results
    from syre_tune.study import did_you_mean

    storage = _storage(args.storage)
    folder = storage / args.name
    found = results.study_folders(folder, layout.STUDY_FILE)
    if not found:
        children = storage.children() if storage.exists() else []
        names = [child.name for child in children if results.study_folders(child, layout.STUDY_FILE)]
        hint = did_you_mean(args.name, names)
        raise UsageError(f"{folder}: no study of that name{hint} (expected <storage>/<name>/{layout.STUDY_FILE})")
    return found


def _cmd_status(args: argparse.Namespace) -> int:
    from syre_tune import results

    for folder in _study_folders(args):
        if not (folder / layout.STATUS_FILE).exists():
            print(f"{folder}: no status yet (the study has not started its first trial)")
            continue
        status = results.read_status(folder)
        counts = ", ".join(f"{status[key]} {key}" for key in ("done", "running", "failed", "pending"))
        print(f"{status['study']}: {counts} of {status['planned']} trials (updated {status['updated']})")
        rows = results.count_rows(folder) if (folder / layout.RESULTS_DIR).is_dir() else 0
        if rows:
            count = results.trials(folder).status.value_counts()
            print(
                f"  {rows} rows; {count.get('diverged', 0)} trials diverged, "
                f"{count.get('stopped', 0)} stopped early by the scheduler"
            )
        if status.get("interrupted"):
            print(f"  interrupted (Ctrl+C): finish it with  {_resume_command(args.name, args.storage)}")
        elif not status["finished"] and status["driver_alive"] is False:
            print(f"  its driver is gone: finish it with  {_resume_command(args.name, args.storage)}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from syre_tune import results, runner
    from syre_tune import study as study_module

    if args.dry_run:
        raise UsageError(
            "--dry-run is for run; a resume continues what exists (syre-tune status NAME shows what is left)"
        )
    folders = _study_folders(args)
    todo = []
    for folder in folders:
        if not runner.can_resume(folder):
            raise UsageError(f"{folder}: no Ray Tune experiment to resume here")
        if (folder / layout.STATUS_FILE).exists():
            status = results.read_status(folder)
            if status["driver_alive"] and not status["finished"]:
                pid = status["driver"]["pid"]
                raise UsageError(f"{folder}: its driver (pid {pid}, this host) still runs; resume when it is gone")
            if status["finished"] and not status.get("interrupted") and not status["failed"]:
                print(
                    f"[syre-tune] {status['study']}: finished ({status['done']} of {status['planned']} trials done, "
                    f"none failed; updated {status['updated']}): nothing to resume, nothing changed"
                )
                continue
        saved = folder / layout.STUDY_FILE
        try:
            (study,) = study_module.load_text(saved.read_text(), source=str(saved))
        except study_module.StudyError as error:
            raise UsageError(str(error)) from None
        todo.append((study, folder))
    if not todo:
        return 0
    return _drive(todo, runner.resume_study, lambda study: f"resuming {study.name}", args, args.name)


def _cmd_analyze(args: argparse.Namespace) -> int:
    from syre_tune import analysis, results

    try:
        folders = analysis.study_dirs(args.results_dir)
    except (FileNotFoundError, results.StorageError) as error:
        raise UsageError(str(error)) from None
    for folder in folders:
        out = Path(args.out) / folder.name if args.out and len(folders) > 1 else args.out
        paths = analysis.analyze(folder, out)
        print(f"{folder.name}:")
        _written(paths, "")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args.benchmark)
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "status":
            return _cmd_status(args)
        if args.command == "resume":
            return _cmd_resume(args)
        return _cmd_analyze(args)
    except UsageError as error:
        print(f"syre-tune: error: {_secrets.redact(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("syre-tune: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
