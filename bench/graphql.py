"""The GraphQL floor: what the full production stack costs for the cheapest query.

``{ __typename }`` goes through uvicorn (uvloop + httptools, one worker process), our
middleware, tenant resolution, ``tenant_scope`` and the GraphQL engine, with
``SAAS_ENV=production`` and the embedded SQLite default in a temporary data dir holding
one tenant. It is compared with a raw Starlette endpoint returning the same JSON, served
by the same uvicorn settings in the same run: the ratio travels better than absolute
numbers. A real tenant-data query is measured beside them for information.

Both servers run at once, and the measured time of each target is cut into rounds
taken in turn (raw, GraphQL, tenant data, raw, ...), so that a neighbour loading the
machine for a while weighs on every target alike instead of on one.

The load comes from ``wrk`` (1 thread: on a small machine it shares the CPUs with the
server); without it, a Python asyncio keep-alive client takes its place, and says so.

    python -m bench graphql [--connections 16] [--duration 10] [--rounds 5] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SLUG = "bench"
TARGET_RATIO = 0.5
TYPENAME = b'{"query":"{ __typename }"}'
SETTINGS_QUERY = b'{"query":"{ tenantSettings { name currency } }"}'
STARTUP_TIMEOUT_S = 60.0
QUANTILES = 100  # latency quantiles kept per round, at the midpoints of 100 equal slices


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    server: str  # "raw" or "saas"
    path: str
    body: bytes
    expect: str  # a fragment the response body must contain
    gated: bool  # held to TARGET_RATIO of the raw endpoint's rps


RAW = Case("raw Starlette JSON", "raw", "/", TYPENAME, '"__typename":"Query"', gated=False)
CASES = (
    RAW,
    Case("graphql { __typename }", "saas", f"/t/{SLUG}/graphql", TYPENAME, '"__typename"', True),
    Case(
        "graphql tenantSettings", "saas", f"/t/{SLUG}/graphql", SETTINGS_QUERY, '"currency"', False
    ),
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One load run: counts and latency quantiles in ms (QUANTILES midpoints)."""

    requests: int
    seconds: float
    errors: int
    quantiles_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def merge(samples: Sequence[Sample]) -> Load:
    """Rounds summed; percentiles of the mixture of the rounds' latency distributions."""
    points = sorted(
        (value, sample.requests / QUANTILES) for sample in samples for value in sample.quantiles_ms
    )
    return Load(
        requests=sum(s.requests for s in samples),
        seconds=sum(s.seconds for s in samples),
        errors=sum(s.errors for s in samples),
        p50_ms=_weighted_quantile(points, 0.50),
        p99_ms=_weighted_quantile(points, 0.99),
    )


def _weighted_quantile(points: Sequence[tuple[float, float]], fraction: float) -> float:
    total = sum(weight for _, weight in points)
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= fraction * total:
            return value
    return points[-1][0] if points else 0.0


# --- the reference endpoint -------------------------------------------------------------


async def _raw_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"data": {"__typename": "Query"}})


def raw_app() -> Starlette:
    """uvicorn factory of the reference endpoint."""
    return Starlette(routes=[Route("/", _raw_endpoint, methods=["POST"])])


# --- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_accepting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return  # uvicorn listens once the app's lifespan startup is done
        time.sleep(0.05)
    raise RuntimeError(f"server did not accept on port {port} in {STARTUP_TIMEOUT_S:g} s")


@contextlib.contextmanager
def serve(factories: dict[str, str], env: dict[str, str], logs: Path) -> Iterator[dict[str, str]]:
    """Run ``uvicorn --factory <factory>`` per name, as production would, all at once;
    yield each one's base URL. Logs (the JSON access log) go to a file per server."""
    processes: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}
    try:
        for name, factory in factories.items():
            port = free_port()
            log = logs / f"{name}.log"
            with log.open("wb") as sink:
                command = _uvicorn_command(factory, port)
                process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=sink)
            processes[name] = (process, port, log)
        for process, port, log in processes.values():
            _wait_accepting(port, process, log)
        yield {name: f"http://{HOST}:{port}" for name, (_, port, _) in processes.items()}
    finally:
        for process, _, _ in processes.values():
            _stop(process)


def _uvicorn_command(factory: str, port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "--factory", factory),
        *("--host", HOST, "--port", str(port), "--workers", "1"),
        *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SAAS_ENV": "production",
        "SAAS_DATA_DIR": str(data_dir),
        "SAAS_DATABASE_URL": "",
        "SAAS_LOG_LEVEL": "INFO",
        "SAAS_BACKUP_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
    }


def create_bench_tenant(env: dict[str, str]) -> None:
    """The registry and one tenant in the data dir, made before the server starts."""
    from saas.app import make_tenancy
    from saas.config import load_settings
    from tenants.provisioning import create_tenant

    async def create() -> None:
        async with make_tenancy(load_settings(env)):
            await create_tenant(SLUG, "Bench Tenant", actor="bench")

    asyncio.run(create())


# --- load: wrk, or a Python keep-alive client -----------------------------------------------

_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]

done = function(summary, latency, requests)
  local e = summary.errors
  local q = {}
  for i = 1, %(quantiles)d do
    q[i] = latency:percentile((i - 0.5) * 100 / %(quantiles)d)
  end
  io.write(string.format(
    "BENCH_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"errors\\": %%d, " ..
    "\\"quantiles_us\\": [%%s]}\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, table.concat(q, ",")))
end
"""


def wrk_sample(url: str, case: Case, connections: int, seconds: int, workdir: Path) -> Sample:
    script = workdir / f"post-{case.server}-{len(case.body)}.lua"
    script.write_text(_WRK_SCRIPT % {"body": case.body.decode(), "quantiles": QUANTILES})
    command = [
        *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s"),
        *("--timeout", "5s", "-s", str(script), url),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH_RESULT "))
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    return Sample(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        errors=result["errors"],
        quantiles_ms=tuple(us / 1000 for us in result["quantiles_us"]),
    )


def _http_request(case: Case, port: int) -> bytes:
    head = (
        f"POST {case.path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(case.body)}\r\n\r\n"
    )
    return head.encode() + case.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    return status, await reader.readexactly(length)


async def _one_request(port: int, case: Case) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(_http_request(case, port))
        status, body = await _read_response(reader)
    finally:
        writer.close()
    return status, body.decode()


async def _socket_worker(
    port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while (started := time.perf_counter()) < stop_at:
            writer.write(request)
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _socket_sample(port: int, case: Case, connections: int, seconds: float) -> Sample:
    request = _http_request(case, port)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_socket_worker(port, request, stop_at, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    count = len(latencies)
    quantiles = tuple(
        latencies[min(count - 1, int((i + 0.5) * count / QUANTILES))] * 1000 if count else 0.0
        for i in range(QUANTILES)
    )
    return Sample(count, elapsed, len(errors), quantiles)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True)
class LoadGenerator:
    connections: int
    workdir: Path
    use_wrk: bool
    why_not_wrk: str = ""

    @property
    def label(self) -> str:
        tool = (
            "wrk -t1"
            if self.use_wrk
            else f"Python asyncio keep-alive client instead of wrk ({self.why_not_wrk})"
        )
        return f"{tool}, {self.connections} connections"

    def check(self, base: str, case: Case) -> None:
        """One request by hand: the load is worthless if it measures an error page."""
        status, body = asyncio.run(_one_request(_port(base), case))
        if status != 200 or case.expect not in body:
            raise RuntimeError(f"{case.name}: HTTP {status}, unexpected answer {body[:300]!r}")

    def sample(self, base: str, case: Case, seconds: int) -> Sample:
        if self.use_wrk:
            return wrk_sample(base + case.path, case, self.connections, seconds, self.workdir)
        return asyncio.run(_socket_sample(_port(base), case, self.connections, seconds))


# --- the table -----------------------------------------------------------------------------

COLUMNS = ("target", "rps", "p50 ms", "p99 ms", "ratio vs raw", "target ratio", "result")


def _verdict(case: Case, ratio: float, errors: int) -> tuple[str, str]:
    if case is RAW:
        return "-", "reference"
    if not case.gated:
        return "-", "info"
    verdict = "PASS" if ratio >= TARGET_RATIO and not errors else "FAIL"
    return f">= {TARGET_RATIO:g}x", verdict


def _row(case: Case, load: Load, raw: Load) -> tuple[str, ...]:
    ratio = load.rps / raw.rps if raw.rps else 0.0
    target, verdict = _verdict(case, ratio, load.errors)
    if load.errors:
        verdict += f" ({load.errors:,} errors)"
    return (
        case.name,
        f"{load.rps:,.0f}",
        f"{load.p50_ms:.2f}",
        f"{load.p99_ms:.2f}",
        f"{ratio:.2f}x",
        target,
        verdict,
    )


def format_table(results: dict[Case, Load]) -> str:
    table = [COLUMNS, *(_row(case, load, results[RAW]) for case, load in results.items())]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if i in (0, 5, 6) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return " | ".join(padded).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(COLUMNS), rule, *(line(cells) for cells in table[1:])])


def passed(results: dict[Case, Load]) -> bool:
    raw = results[RAW].rps
    return all(
        load.rps >= TARGET_RATIO * raw and not load.errors
        for case, load in results.items()
        if case.gated
    )


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: int
    round_s: int
    rounds: int


def measure(load: LoadGenerator, bases: dict[str, str], plan: Plan) -> dict[Case, Load]:
    for case in CASES:
        load.check(bases[case.server], case)
        load.sample(bases[case.server], case, plan.warmup_s)
    samples: dict[Case, list[Sample]] = {case: [] for case in CASES}
    for number in range(1, plan.rounds + 1):
        for case in CASES:
            samples[case].append(load.sample(bases[case.server], case, plan.round_s))
        rates = ", ".join(
            f"{c.name} {s[-1].requests / s[-1].seconds:,.0f}" for c, s in samples.items()
        )
        print(f"  round {number}/{plan.rounds}: {rates} rps", flush=True)
    return {case: merge(case_samples) for case, case_samples in samples.items()}


def run(load: LoadGenerator, plan: Plan, workdir: Path) -> dict[Case, Load]:
    env = server_env(workdir / "var")
    create_bench_tenant(env)
    factories = {"raw": "bench.graphql:raw_app", "saas": "saas.app:asgi_app"}
    with serve(factories, env, workdir) as bases:
        return measure(load, bases, plan)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench graphql", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per target")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the duration is cut into")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target")
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python client even if wrk exists"
    )
    args = parser.parse_args(argv)
    if min(args.connections, args.duration, args.rounds, args.warmup) < 1:
        parser.error("every option must be at least 1")
    if args.duration % args.rounds:
        parser.error("--duration must be a whole number of seconds per round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(args.warmup, args.duration // args.rounds, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as tmp:
        workdir = Path(tmp)
        why_not_wrk = (
            "--python-client" if args.python_client else "" if shutil.which("wrk") else "not found"
        )
        load = LoadGenerator(args.connections, workdir, not why_not_wrk, why_not_wrk)
        print(
            "GraphQL floor: uvicorn (uvloop, httptools, 1 worker process), SAAS_ENV=production, "
            f"embedded SQLite, 1 tenant; load: {load.label}; per target: {plan.warmup_s} s "
            f"warm-up, then {plan.rounds} x {plan.round_s} s rounds taken in turn",
            flush=True,
        )
        try:
            results = run(load, plan, workdir)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"bench graphql: {exc}", file=sys.stderr)
            return 2
    print()
    print(format_table(results))
    return 0 if passed(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
