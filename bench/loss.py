#!/usr/bin/env python3
"""Loss: measured distribution time over the bound as packets are lost, in P2P and
client-server: the real swarm in a network namespace of its own whose loopback drops a
given share of the packets at random (bench/with_loss.sh: unshare -n, MTU 1500, nftables on
the input hook), so that TCP's own retransmission and congestion control act.

Swarm (the README's, as bench/rtt.py): N = 8, F = 32 MiB in 64 KiB pieces, u_s = 8 MB/s,
P2P leechers upload 4 MB/s, choker at --time-scale 0.2; loss 0, 0.5, 1, 2, 5 %, each with
--rtt values (default: none, and 50 ms). The round trip of --rtt is the engine's delay
line, which TCP does not see: TCP recovers from a loss at the loopback's round trip (its
200 ms minimum retransmission timeout still applies), not at the emulated one; a kernel
delay (netem) is not available on these machines. Prints a table and writes JSON (default
build/bench/loss.json). Needs root; says so and exits 77 where the namespace is refused.

  bench/loss.py [--bin build/p2pdist] [--loss 0,0.5,1,2,5] [--rtt 0,50ms] [--repeat 1]
                [--out build/bench/loss.json] [--summary FILE] [--from-json FILE]

--summary and --from-json as in bench/rtt.py (the notebook plots notebooks/data/loss.json).
"""

import argparse
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import swarm_runs  # noqa: E402  (beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    root = os.path.dirname(HERE)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--loss", default="0,0.5,1,2,5")
    p.add_argument("--rtt", default="0,50ms")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "loss.json"))
    p.add_argument("--summary", default=None, help="also write the compact record here")
    p.add_argument("--from-json", default=None, help="the rows of an earlier --out, instead of running")
    args = p.parse_args()

    rows = []
    if args.from_json:
        with open(args.from_json) as f:
            rows = json.load(f)["rows"]
    for rtt in [] if args.from_json else args.rtt.split(","):
        for loss in args.loss.split(","):
            for mode in ("p2p", "cs"):
                cmd = ["bash", os.path.join(HERE, "with_loss.sh"), loss, args.bin, "swarm", "--json", "-",
                       "--mode", mode, *swarm_runs.NETWORK_SWARM_ARGS, "--rtt", rtt, "--repeat", str(args.repeat)]
                doc, status, wall, err = swarm_runs.run(cmd, f"loss {loss} %, RTT {rtt}, {mode} ...")
                if status == 77:
                    print(err.strip(), file=sys.stderr)
                    return 77
                row = swarm_runs.row_of(8, doc, status, wall) if doc else swarm_runs.failed_row(8, status, wall, err)
                dropped = re.search(r"with_loss: (\d+) packets dropped", err)
                row.update(loss_percent=float(loss), rtt=rtt, mode=mode,
                           packets_dropped=int(dropped.group(1)) if dropped else None)
                rows.append(row)

    print(f"{'loss %':>6} {'RTT':>6} {'mode':>4} {'bound s':>8} {'measured s':>10} {'ratio':>6} {'/piece':>6} "
          f"{'dropped':>8}")
    for r in rows:
        if "ratio" not in r:
            print(f"{r['loss_percent']:6g} {r['rtt']:>6} {r['mode']:>4} failed (exit {r['exit_status']})")
            continue
        print(f"{r['loss_percent']:6g} {r['rtt']:>6} {r['mode']:>4} {r['bound_seconds']:8.2f} "
              f"{r['measured_seconds']:10.2f} {r['ratio']:6.3f} {r['ratio_to_piece_bound']:6.3f} "
              f"{r['packets_dropped'] if r['packets_dropped'] is not None else '-':>8}")
    return swarm_runs.finish(args, "bench/loss.py", rows, swarm_runs.NETWORK_SWARM_FIELDS)


if __name__ == "__main__":
    sys.exit(main())
