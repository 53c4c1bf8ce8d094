"""``python -m mlconnector.sandbox``: serve the seeded simulators until Ctrl-C.

Prints their URLs, an mlconnector configuration pointing at them and the credential
environment variables, for manual runs and benchmarks.
"""

from __future__ import annotations

import argparse
import json
import shlex
import threading

from mlconnector.sandbox import PAIRS, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlconnector.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=PAIRS, default=PAIRS[0], help="the pair to serve (default %(default)s)")
    parser.add_argument("--vendors", type=int, default=300, help="source ERP vendors to seed (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data (default 7)")
    parser.add_argument("--procore-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--sage300-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--intacct-port", type=int, default=0, help="default: any free port")
    parser.add_argument("--state", default="mlconnector-sandbox.db", help="state file named in the config")
    args = parser.parse_args(argv)

    with Sandbox(vendors=args.vendors, seed=args.seed, procore_port=args.procore_port,
                 sage300_port=args.sage300_port, intacct_port=args.intacct_port, pair=args.pair) as sandbox:
        print(f"Procore simulator:  {sandbox.procore.url}")
        if args.pair == "procore-intacct":
            print(f"Intacct simulator:  {sandbox.intacct.url}")
        else:
            print(f"Sage 300 simulator: {sandbox.sage300.base_url}")
        print(f"Seed data: {json.dumps(sandbox.seed_summary)}")
        print("\n# mlconnector configuration")
        print(sandbox.config_yaml(args.state))
        print("# credentials")
        for name, value in sandbox.credentials_env().items():
            print(f"export {name}={shlex.quote(value)}")
        print("\nServing; press Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
