#!/usr/bin/env python3
"""A Python client of the sweep coordinator (gRPC, grpcio), and an example of
driving it from code: submit a sweep file, watch it to its end, and read its
leaderboard as a pandas DataFrame.

The stubs are generated from the repository's proto/sweep/v1/sweep.proto by
grpcio-tools (into ./generated, once), so they cannot drift from the wire.
Credentials are the CLI's: a client token file (sent as
`authorization: Bearer TOKEN`) and, for a TLS coordinator, the CA certificate.

    python sweep_client.py --coordinator 127.0.0.1:50051 --token-file my.token submit sweeps/quick.yaml
    python sweep_client.py ... watch SWEEP_ID
    python sweep_client.py ... leaderboard SWEEP_ID [--csv]

As a library: `client = SweepClient(address, token, ca_pem)`, then
`client.submit(text, name)`, `client.watch(id)` (a generator of summaries),
`client.leaderboard(id)` (a DataFrame, one row per trial, one column per
swept parameter).
"""
import argparse
import importlib
import json
import pathlib
import sys

import grpc

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto" / "proto"
GENERATED = HERE / "generated"


def _stubs():
    """sweep_pb2 and sweep_pb2_grpc, generated from the proto if missing or older."""
    proto = PROTO_ROOT / "sweep" / "v1" / "sweep.proto"
    target = GENERATED / "sweep" / "v1" / "sweep_pb2.py"
    if not target.exists() or target.stat().st_mtime < proto.stat().st_mtime:
        from grpc_tools import protoc

        GENERATED.mkdir(exist_ok=True)
        code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"--python_out={GENERATED}",
                            f"--grpc_python_out={GENERATED}", str(proto)])
        if code != 0:
            raise RuntimeError(f"protoc failed on {proto} ({code})")
    sys.path.insert(0, str(GENERATED))
    return (importlib.import_module("sweep.v1.sweep_pb2"),
            importlib.import_module("sweep.v1.sweep_pb2_grpc"))


pb, pb_grpc = _stubs()


class SweepClient:
    """SweepService over one channel: TLS if `ca_pem` is given, the bearer token on every call."""

    def __init__(self, address, token=None, ca_pem=None):
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        if ca_pem is not None:
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=ca_pem))
        else:
            channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.SweepServiceStub(channel)

    def submit(self, sweep_yaml, source_name="sweep.yaml"):
        """Submits a sweep file's text; returns (sweep id, trial count)."""
        answer = self.stub.SubmitSweep(
            pb.SubmitSweepRequest(sweep_yaml=sweep_yaml, source_name=source_name), metadata=self.metadata)
        return answer.sweep_id, answer.trial_count

    def summary(self, sweep_id):
        return self.stub.GetSweep(pb.GetSweepRequest(sweep_id=sweep_id), metadata=self.metadata)

    def watch(self, sweep_id):
        """Yields the sweep's summary after every change, until it is over."""
        for summary in self.stub.WatchSweep(pb.WatchSweepRequest(sweep_id=sweep_id), metadata=self.metadata):
            yield summary
            if summary.state != pb.SWEEP_STATE_RUNNING:
                return

    def trials(self, sweep_id):
        """Every trial, ranked, read page by page."""
        token = ""
        while True:
            page = self.stub.ListTrials(
                pb.ListTrialsRequest(sweep_id=sweep_id, page_size=500, page_token=token), metadata=self.metadata)
            yield from page.trials
            token = page.next_page_token
            if not token:
                return

    def leaderboard(self, sweep_id):
        """The sweep's trials as a pandas DataFrame: rank, state, one column per swept
        parameter (its JSON value decoded), the metric, test accuracy and ECE, best epoch,
        wall time, worker, attempts, error."""
        import pandas as pd

        rows = []
        for t in self.trials(sweep_id):
            result = json.loads(t.result_json) if t.result_json else {}
            row = {"rank": t.rank or None, "trial_id": t.trial_id,
                   "state": pb.TrialState.Name(t.state).removeprefix("TRIAL_STATE_").lower()}
            row.update({name: json.loads(value) for name, value in sorted(t.params.items())})
            row.update({
                "metric": t.metric if t.HasField("metric") else None,
                "test_acc": t.test_acc if t.HasField("test_acc") else None,
                "test_ece": result.get("test", {}).get("ece"),
                "best_epoch": t.best_epoch, "wall_s": t.wall_s, "worker": t.worker_id,
                "attempts": t.attempts, "error": t.last_error,
            })
            rows.append(row)
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["rank"] = frame["rank"].astype("Int64")
        return frame


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator", default="127.0.0.1:50051", help="host:port of the coordinator")
    ap.add_argument("--token-file", help="the client token, one line")
    ap.add_argument("--ca-cert", help="CA certificate (PEM) of a TLS coordinator")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit")
    s.add_argument("file")
    w = sub.add_parser("watch")
    w.add_argument("sweep_id")
    lb = sub.add_parser("leaderboard")
    lb.add_argument("sweep_id")
    lb.add_argument("--csv", action="store_true", help="CSV instead of a table")
    args = ap.parse_args(argv)

    token = pathlib.Path(args.token_file).read_text().strip() if args.token_file else None
    ca = pathlib.Path(args.ca_cert).read_bytes() if args.ca_cert else None
    client = SweepClient(args.coordinator.removeprefix("http://").removeprefix("https://"), token, ca)
    try:
        if args.command == "submit":
            path = pathlib.Path(args.file)
            sweep_id, count = client.submit(path.read_text(), path.name)
            print(sweep_id)
            print(f"{count} trial(s)", file=sys.stderr)
        elif args.command == "watch":
            last = None
            for summary in client.watch(args.sweep_id):
                last = summary
                print(f"{summary.done + summary.failed + summary.cancelled}/{summary.total} finished, "
                      f"{summary.running} running", file=sys.stderr)
            if last is not None:
                print(pb.SweepState.Name(last.state).removeprefix("SWEEP_STATE_").lower())
        else:
            frame = client.leaderboard(args.sweep_id)
            print(frame.to_csv(index=False) if args.csv else frame.to_string(index=False))
    except grpc.RpcError as e:
        print(f"sweep_client: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
