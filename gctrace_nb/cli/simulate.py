"""``gctrace simulate [--port N] [--seed S] ...``: run the embedded Genesys Cloud simulator.

Prints the URLs and the (simulator-only) credentials, as environment variables
the other commands read, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .app import EXIT_INVALID, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    from ..simulator.faults import DOWNLOAD_STYLES, LOCATION_STYLES, RESULT_STYLES, RETRY_AFTER_STYLES

    p = sub.add_parser("simulate", help="serve the embedded Genesys Cloud simulator",
                       description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: 0, any free port)")
    p.add_argument("--seed", type=int, default=0, help="seed for traces, ids and fault dice (default: 0)")
    p.add_argument("--client-id", default="sim-client", help="client id to accept (default: sim-client)")
    p.add_argument("--client-secret", default="sim-secret", help="client secret to accept (default: sim-secret)")
    p.add_argument("--token-lifetime", type=float, default=3600, metavar="S", help="token expires_in (default: 3600)")
    p.add_argument("--job-duration", type=float, default=2.0, metavar="S",
                   help="seconds a job stays in progress (default: 2)")
    p.add_argument("--trace-size", default="normal", help="'normal' or a number of steps per debug trace")
    p.add_argument("--download-lifetime", type=float, default=300, metavar="S",
                   help="seconds a pre-signed download URL works (default: 300)")
    n = p.add_argument_group("notifications (gctrace live)")
    n.add_argument("--calls-per-minute", type=float, default=0.0, metavar="N",
                   help="place N simulated calls a minute on every flow someone watches (default: 0, none)")
    n.add_argument("--call-flow-id", action="append", default=None, metavar="F",
                   help="place the calls on this flow (repeatable) instead of on the watched flows")
    n.add_argument("--heartbeat-interval", type=float, default=30.0, metavar="S",
                   help="seconds between WebSocket heartbeats (default: 30, as Genesys)")
    n.add_argument("--socket-closing-every", type=float, default=None, metavar="S",
                   help="send v2.system.socket_closing and close each socket S seconds after it opened")
    f = p.add_argument_group("faults")
    f.add_argument("--rate-429", type=float, default=0.0, metavar="P", help="probability of a 429 per API request")
    f.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After of a 429 (default: 1)")
    f.add_argument("--retry-after-style", choices=RETRY_AFTER_STYLES, default="seconds")
    f.add_argument("--burst-5xx", type=int, default=0, metavar="N", help="the first N API requests get 502/503/504")
    f.add_argument("--outage", action="store_true", help="every API request gets 503")
    f.add_argument("--fail-job", action="store_true", help="jobs end failed")
    f.add_argument("--forbidden", action="store_true", help="API requests get 403 missing.permissions")
    f.add_argument("--token-faults", action="store_true", help="apply the faults to /oauth/token too")
    f.add_argument("--location-style", choices=LOCATION_STYLES, default="absolute")
    f.add_argument("--result-style", choices=RESULT_STYLES, default="object")
    f.add_argument("--download-style", choices=DOWNLOAD_STYLES, default="presigned")
    f.add_argument("--history-entity-404", action="store_true", help="one history job entity fails with 404")
    f.add_argument("--webhook-status", type=int, default=200, metavar="CODE", help="webhook sink status (default: 200)")
    f.add_argument("--webhook-fail-first", type=int, default=0, metavar="N", help="first N webhook posts get 503")
    f.add_argument("--webhook-delay", type=float, default=0.0, metavar="S", help="webhook sink delay in seconds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..simulator import Faults, Simulator

    if args.calls_per_minute < 0 or not args.heartbeat_interval > 0 or (
            args.socket_closing_every is not None and not args.socket_closing_every > 0):
        print("gctrace simulate: --calls-per-minute must be >= 0, --heartbeat-interval and "
              "--socket-closing-every positive", file=sys.stderr)
        return EXIT_INVALID
    if not 0 <= args.port <= 65535:
        print(f"gctrace simulate: --port must be between 0 and 65535, got {args.port}", file=sys.stderr)
        return EXIT_INVALID
    size: str | int = args.trace_size
    try:
        if size != "normal":
            size = int(size)
        faults = Faults(
            rate_429=args.rate_429, retry_after_s=args.retry_after, retry_after_style=args.retry_after_style,
            burst_5xx=args.burst_5xx, outage=args.outage, fail_job=args.fail_job, forbidden=args.forbidden,
            token_faults=args.token_faults, location_style=args.location_style, result_style=args.result_style,
            download_style=args.download_style, history_entity_404=args.history_entity_404,
            webhook_status=args.webhook_status, webhook_fail_first=args.webhook_fail_first,
            webhook_delay_s=args.webhook_delay,
        )
        sim = Simulator(seed=args.seed, client_id=args.client_id, client_secret=args.client_secret,
                        token_lifetime_s=args.token_lifetime, job_duration_s=args.job_duration, faults=faults,
                        host=args.host, port=args.port, trace_size=size, download_lifetime_s=args.download_lifetime)
    except ValueError as exc:
        print(f"gctrace simulate: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        sim.start()
    except OSError as exc:
        print(f"gctrace simulate: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    sim.notifications.heartbeat_interval_s = args.heartbeat_interval
    sim.notifications.socket_closing_every_s = args.socket_closing_every
    if args.calls_per_minute > 0:
        sim.notifications.start_calls(args.calls_per_minute, args.call_flow_id)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client_id, client_secret = sim.credentials
    print(f"gctrace simulator listening on {sim.api_url}  (Ctrl-C to stop)\n"
          f"  API URL:      {sim.api_url}\n"
          f"  Login URL:    {sim.login_url}\n"
          f"  Webhook URL:  {sim.webhook_url}\n"
          f"  Client id:    {client_id}\n"
          f"  Client secret (simulator only): {client_secret}\n"
          f"\n"
          f"export GENESYS_API_URL={sim.api_url}\n"
          f"export GENESYS_LOGIN_URL={sim.login_url}\n"
          f"export GENESYS_CLIENT_ID={client_id}\n"
          f"export GENESYS_CLIENT_SECRET={client_secret}", flush=True)
    if args.calls_per_minute > 0:
        where = ", ".join(args.call_flow_id) if args.call_flow_id else "every watched flow"
        print(f"\nplacing {args.calls_per_minute:g} call(s) a minute on {where}; watch them with\n"
              f"  gctrace live --flow-id {args.call_flow_id[0] if args.call_flow_id else 'FLOW_ID'}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    print("gctrace simulator stopped", flush=True)
    return EXIT_OK
