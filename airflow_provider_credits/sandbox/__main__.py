"""``python -m airflow_provider_credits.sandbox``: serve the vendor sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from airflow_provider_credits.sandbox.faults import SCENARIOS
from airflow_provider_credits.sandbox.state import (
    CLODURA_PLANS,
    DEFAULT_HISTORY_DAYS,
    DEFAULT_SEED,
    SandboxError,
)

logger = logging.getLogger("airflow_provider_credits.sandbox")


def _parser() -> argparse.ArgumentParser:
    scenarios = "\n".join(
        f"  {name:<26} {s.effect}"
        + (f"  [{', '.join(f'{k}={v}' for k, v in s.defaults.items())}]" if s.defaults else "")
        for name, s in SCENARIOS.items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_credits.sandbox",
        description="Serve the Clay, Clodura, TheirStack and Trendtrack credit APIs locally, with fixed "
        "fake keys, for tests, demos and benchmarks. Prints the AIRFLOW_CONN_* values that point Airflow at it.",
        epilog=f"fault scenarios (--fault vendor:scenario[:count][:name=value,...]):\n{scenarios}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port (default: 8900; 0: any free port)")
    parser.add_argument(
        "--seed",
        type=int,
        help=f"seed of the generated history (default: the seed file's, else {DEFAULT_SEED})",
    )
    parser.add_argument("--seed-file", help="JSON state document laid over the seeded state")
    parser.add_argument(
        "--clodura-plan", choices=CLODURA_PLANS, help="Clodura plan schema (default: unified)"
    )
    parser.add_argument(
        "--history-days", type=int, help=f"days of generated history (default: {DEFAULT_HISTORY_DAYS})"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="VENDOR:SCENARIO[:COUNT][:K=V,...]",
        help="switch a fault on at start (repeatable); vendor '*' means all",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox in the foreground.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from airflow_provider_credits.sandbox.server import SandboxServer

    try:
        server = SandboxServer(
            args.host,
            args.port,
            seed=args.seed,
            seed_file=args.seed_file,
            clodura_plan=args.clodura_plan,
            history_days=args.history_days,
            faults=args.fault,
            log_level=args.log_level,
        ).start()
    except (SandboxError, ValueError, OSError, RuntimeError, ImportError) as exc:
        print(f"sandbox: cannot start: {exc}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        logger.warning(
            "listening on %s: the sandbox's keys are public, keep it off shared networks", args.host
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    print(
        f"Vendor sandbox serving on {server.url} (Clodura plan: {server.clodura_plan}); Ctrl-C or SIGTERM stops it."
    )
    print("# Point Airflow at it:")
    for name, value in server.airflow_conn_env().items():
        print(f"export {name}='{value}'")
    sys.stdout.flush()
    while not stop.wait(0.5) and server.running:
        pass
    server.stop()
    print("Vendor sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
