"""The `aiperf` console script: `aiperf profile …`, `aiperf mock-server …`, `aiperf extract-images …`,
`aiperf plot …` and `aiperf analyze-accuracy …`.

Start-up matters (target: `aiperf --help` and the first request within 0.5 s), so this module imports only the
standard library; numpy, rich, tokenizers and the engine are imported when a command runs.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from aiperf import __version__
from aiperf.config import OPTIONS, ConfigError, ProfileConfig, validate
from aiperf.errors import AiperfError
from aiperf.redaction import redact_argv


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = ProfileConfig()
    for option in OPTIONS:
        group = groups.get(option.group) or groups.setdefault(option.group, parser.add_argument_group(option.group))
        default = getattr(defaults, option.dest)
        help_text = option.help if default in (None, [], False) else f"{option.help} [default: {default}]"
        kwargs: dict[str, Any] = {"dest": option.dest, "help": help_text, "default": argparse.SUPPRESS}
        if option.kind == "flag":
            kwargs["action"] = "store_true"
        elif option.kind == "list":
            kwargs.update(action="extend", nargs="+", metavar=option.metavar or "VALUE")
        else:
            kwargs.update(type=option.type, metavar=option.metavar or option.dest.upper())
            if option.choices:
                kwargs["choices"] = option.choices
                kwargs["metavar"] = "{" + ",".join(option.choices) + "}"
        group.add_argument(*option.flags, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiperf",
        description="Benchmark generative-AI inference servers over OpenAI-compatible HTTP APIs.",
    )
    parser.add_argument("--version", action="version", version=f"aiperf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    profile = sub.add_parser("profile", help="Run a benchmark against a server.",
                             description="Run a benchmark against an OpenAI-compatible server and write an "
                                         "artifact folder with the metrics.")
    _add_profile_options(profile)
    sub.add_parser("mock-server", help="Start the built-in OpenAI-compatible mock server.", add_help=False)
    extract = sub.add_parser("extract-images", help="Write the images of a raw export to files.",
                             description="Decode every base64 image in an artifact folder's profile_export_raw.jsonl "
                                         "(aiperf profile --export-level raw) into files named "
                                         "image_<line:04d>_<index:02d>.jpg, as the guides' extract_images.py does.")
    extract.add_argument("artifact_dir", metavar="ARTIFACT_DIR",
                         help="artifact folder of a run, or its profile_export_raw.jsonl")
    extract.add_argument("--out", "-o", default="extracted_images", metavar="DIR",
                         help="output folder [default: extracted_images]")
    extract.add_argument("--real-extension", action="store_true",
                         help="name files by their real type (.png, .jpg, .webp …) instead of always .jpg")
    plot = sub.add_parser("plot", help="Plot one or several runs: PNG files and a self-contained HTML report.",
                          description="Write every plot that applies (latency CDF, TTFT/ITL distributions, "
                                      "throughput and concurrency over time, latency vs throughput for several "
                                      "runs, image latency by size) as PNG, and report.html with the plots, "
                                      "summary tables and image gallery embedded. A folder holding several "
                                      "artifact folders (a sweep) counts as all of them.")
    plot.add_argument("artifact_dirs", nargs="+", metavar="ARTIFACT_DIR", help="artifact folder(s) of runs")
    plot.add_argument("--out", "-o", default=None, metavar="DIR",
                      help="output folder [default: ARTIFACT_DIR/plots for one run, ./plots for several]")
    accuracy = sub.add_parser("analyze-accuracy",
                              help="Compare a run's timestamps with a mock server's timing log.",
                              description="Join a run's artifact folder (profile_export_raw.jsonl, else "
                                          "profile_export.jsonl) with the timing log of `aiperf mock-server "
                                          "--timing-log` by X-Request-ID, print the client - server differences "
                                          "(request start, every event, TTFT, every inter-token gap, request end) "
                                          "in microseconds, and write accuracy.json and accuracy.png into the "
                                          "folder. See docs/accuracy.md.")
    accuracy.add_argument("artifact_dir", metavar="ARTIFACT_DIR", help="artifact folder of a run")
    accuracy.add_argument("--server-log", required=True, metavar="PATH",
                          help="the mock server's --timing-log file of the same run")
    accuracy.add_argument("--no-plot", action="store_true", help="do not write accuracy.png")
    return parser


def _analyze_accuracy(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(["analyze-accuracy", *argv])
    from aiperf.analysis.timing_accuracy import ACCURACY_JSON, ACCURACY_PNG, analyze_accuracy, print_accuracy
    from aiperf.errors import AccuracyError

    try:
        report = analyze_accuracy(args.artifact_dir, args.server_log, plot=not args.no_plot)
    except (AccuracyError, OSError) as e:
        print(f"aiperf analyze-accuracy: error: {e}", file=sys.stderr)
        return 2
    print_accuracy(report)
    print(f"Written: {report.artifact_dir / ACCURACY_JSON}")
    if not args.no_plot:
        print(f"Written: {report.artifact_dir / ACCURACY_PNG}")
    return 0


def _plot(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(["plot", *argv])
    from pathlib import Path

    from aiperf.analysis.html_report import write_report
    from aiperf.analysis.runs import find_artifact_dirs
    from aiperf.errors import ArtifactError

    try:
        folders = find_artifact_dirs(args.artifact_dirs)
        out = Path(args.out) if args.out else (folders[0] / "plots" if len(folders) == 1 else Path("plots"))
        files = write_report(folders, out)
    except (ArtifactError, OSError, ValueError) as e:
        print(f"aiperf plot: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        print(f"aiperf plot: error: {e.name} is not installed (pip install 'aiperf[plot]')", file=sys.stderr)
        return 2
    for path in files.pngs:
        print(f"Plot: {path}")
    for name, reason in files.skipped.items():
        print(f"aiperf plot: {name} not drawn: {reason}", file=sys.stderr)
    print(f"Report: {files.html}")
    return 0


def _extract_images(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(["extract-images", *argv])
    from aiperf.analysis.extract_images import extract_images

    try:
        written = extract_images(args.artifact_dir, args.out, real_extension=args.real_extension)
    except (OSError, ValueError) as e:
        print(f"aiperf extract-images: error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"Extracted: {path.resolve()}")
    if not written:
        print(f"aiperf extract-images: no images found in {args.artifact_dir}", file=sys.stderr)
    return 0


def config_from_args(argv: Sequence[str]) -> ProfileConfig:
    """Parse `aiperf profile` arguments (without the command word) into a validated config."""
    parser = build_parser()
    args = parser.parse_args(["profile", *argv])
    config = ProfileConfig()
    for name, value in vars(args).items():
        if name != "command":
            setattr(config, name, value)
    config = validate(config)
    config.cli_command = "aiperf profile " + " ".join(shlex.quote(a)
                                                      for a in redact_argv(list(argv), config.secret_values))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "mock-server":
        from aiperf.mock.server import run_cli

        return run_cli(argv[1:])
    if argv and argv[0] == "extract-images":
        return _extract_images(argv[1:])
    if argv and argv[0] == "plot":
        return _plot(argv[1:])
    if argv and argv[0] == "analyze-accuracy":
        return _analyze_accuracy(argv[1:])
    if not argv or argv[0] != "profile":
        parser = build_parser()
        if not argv:
            parser.print_help()
            return 0
        parser.parse_args(argv)  # --help / --version / an unknown command: argparse prints and exits
        return 2
    try:
        config = config_from_args(argv[1:])
    except ConfigError as e:
        print(f"aiperf profile: error: {e}", file=sys.stderr)
        return e.exit_code
    from aiperf.run import run_profile

    try:
        result = run_profile(config, owns_process=True)
    except AiperfError as e:  # ConfigError 2, NoSuccessfulRequestsError 3 (artifacts written), RunError 1
        print(f"aiperf profile: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("aiperf profile: interrupted before the first request: nothing was measured", file=sys.stderr)
        return 130
    return 130 if result.was_cancelled else 0


if __name__ == "__main__":
    sys.exit(main())
