"""The `strongroom` command: `strongroom server -config FILE`, `strongroom server -dev`, and
`strongroom audit verify FILE`.

Flags are spelled as Vault's (single dash, -dev-root-token-id ...); double dashes work too.
The server's modules are imported only when a server is asked for, so `audit verify` starts
fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from config import ConfigError, dev_settings, load_settings
from server.audit.chain import verify_file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strongroom", description="A sealed secrets server.")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the server")
    server.add_argument("-config", "--config", help="path to an HCL or JSON config file")
    server.add_argument("-dev", "--dev", action="store_true", help="throwaway in-memory unsealed server")
    server.add_argument("-dev-root-token-id", "--dev-root-token-id", default=None)
    server.add_argument("-dev-listen-address", "--dev-listen-address", default="127.0.0.1:8200")
    audit = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check an audit log's hash chain")
    verify.add_argument("file")
    return parser


def _verify(path: str) -> int:
    try:
        count, broken, reason = verify_file(path)
    except OSError as exc:
        print(f"strongroom audit verify: {path}: {exc.strerror}", file=sys.stderr)
        return 2
    if broken is not None:
        print(f"{path}: line {broken}: {reason}", file=sys.stderr)
        return 1
    print(f"{path}: {count} entries, chain intact")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "audit":
        return _verify(args.file)
    from server.serve import serve
    from server.startup import StartupError

    try:
        if args.dev:
            settings = dev_settings(address=args.dev_listen_address)
            serve(settings, args.dev_root_token_id, dev=True)
        elif args.config:
            serve(load_settings(args.config))
        else:
            print("strongroom server: give -config FILE or -dev", file=sys.stderr)
            return 2
    except (ConfigError, StartupError) as exc:
        print(f"strongroom: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
