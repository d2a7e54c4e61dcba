"""``ipsecd run`` and ``ipsecd demo`` (DESIGN.md §4)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from ipsecd.mgmt.schema import DIALECTS

DATAPLANES = ("memory", "tun", "xfrm")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0..65535: {value}")
    return value


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def _endpoint(text: str) -> tuple[str, int]:
    """``127.0.0.1:9500`` or ``[::1]:9500``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"ADDR:PORT expected: {text!r}")
    return _address(host.strip("[]")), _port(port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="the IKE daemon",
                         description="Run the IKE daemon on the configuration database, or on exactly "
                                     "the script given with --config (kept in memory, not persisted).")
    run.add_argument("--config", metavar="FILE.rsc", help="start from exactly this script")
    run.add_argument("--defaults", choices=sorted(DIALECTS),
                     help="read --config with these routers' defaults where they differ from the "
                          "manual's (routeros7: what a compact RouterOS 7 export leaves out)")
    run.add_argument("--dataplane", choices=DATAPLANES, default="tun",
                     help="where SAs and policies go (default: %(default)s)")
    run.add_argument("--tun", metavar="NAME", default="ipsecd0", help="TUN device of the tun data plane")
    run.add_argument("--ike-port", type=_port, default=500, metavar="N", help="IKE port (default 500)")
    run.add_argument("--natt-port", type=_port, default=4500, metavar="N", help="NAT-T port (default 4500)")
    run.add_argument("--log-level", choices=("debug", "info", "warning"), default="info")
    run.add_argument("--api-listen", metavar="ADDR", action="append", type=_address,
                     help="where the enabled /ip service services (api, api-ssl, www, www-ssl) listen; "
                          "repeatable (default: 127.0.0.1 and ::1)")
    run.add_argument("--metrics-listen", metavar="ADDR:PORT", type=_endpoint,
                     help="serve Prometheus metrics on http://ADDR:PORT/metrics (default: off)")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="two gateways on loopback: IKEv2, ESP traffic, a rekey",
                          description="Two ipsecd gateways on 127.0.0.1 and 127.0.0.2 (unprivileged ports, "
                                      "memory data plane) negotiate IKEv2, pass traffic through ESP, rekey "
                                      "once and print active-peers, installed-sa and statistics.")
    demo.add_argument("--netns", action="store_true",
                      help="root: TUN data plane in two network namespaces, ping through the tunnel")
    demo.set_defaults(func=_demo)

    events = sub.add_parser("events", help="follow the running daemon's IKE events, one JSON object a line",
                            description="SAs established, rekeyed, deleted and failed, with the explanation "
                                        "the log gives, from the daemon on the control socket; until "
                                        "interrupted or the daemon stops.")
    events.set_defaults(func=_events)


def _run(args: argparse.Namespace) -> int:
    from .app import run_daemon

    return run_daemon(args)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _events(args: argparse.Namespace) -> int:
    """``ipsecd events``: the control socket's event stream (``{"events": true}``) to stdout."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(args.control)
            sock.sendall(b'{"events": true}\n')
        except OSError as exc:
            print(f"ipsecd events: no daemon on {args.control}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        with sock.makefile("rb") as stream:
            for line in stream:
                if line.strip():  # empty lines are the daemon's keep-alives
                    sys.stdout.write(line.decode("utf-8", "replace"))
                    sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
