#!/usr/bin/env python3
"""Benchmark: ``lyncready audit`` over N SIP domains against the admin's dig/sntp/curl script.

    sudo .venv/bin/python benchmarks/run.py --sizes 10,100,1000,10000

Needs root (it makes a network namespace), and the Debian packages nsd, chrony, nginx-light, nftables,
dnsutils, curl and sntp. Everything runs inside a fresh network namespace that has only ``lo``: no
packet can leave the machine, and the namespace's /etc/resolv.conf names 127.0.0.53 (the lab's NSD).

For each N it generates the lab (benchmarks/lab.py), starts NSD, chrony and nginx, then measures, in
the same run and against the same servers:

* ``lyncready audit --domain ... (N times)``: wall time, CPU time (user + system) and peak RSS of the
  process (``wait4`` rusage), plus the packets it sent to each service (nftables counters);
* the admin's script (benchmarks/admin.sh), sequential and under ``xargs -P16``: wall, CPU of the
  whole process tree, largest single process RSS. Above ``--script-full-max`` domains (default 1000)
  the scripts run on the first ``--seq-sample`` / ``--xargs-sample`` domains and their times are
  extrapolated linearly (marked ``extrapolated`` in the results).

Then the failure scenarios (100 domains each): servers that drop every packet (one address per
domain, and one address for all), refused ports, and a DNS server that drops every query; and the
start-up time of ``lyncready --help``. Results go to benchmarks/results/ as JSON and to stdout as a
Markdown table (docs/benchmarks.md holds the committed numbers and their analysis).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import lab  # noqa: E402

DEFAULT_LYNCREADY = ROOT / ".venv" / "bin" / "lyncready"


# --- measuring a child -----------------------------------------------------------------------------------


def measure(argv: list[str], *, env: dict[str, str] | None = None, stdout: Path | None = None) -> dict[str, Any]:
    """Run argv to completion: wall seconds, CPU seconds of it and its waited-for descendants, peak RSS."""
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout:
            out.close()  # type: ignore[union-attr]
    return {
        "wall": round(wall, 3),
        "cpu_user": round(usage.ru_utime, 3),
        "cpu_sys": round(usage.ru_stime, 3),
        "cpu": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": proc.returncode,
        "stderr": err.decode(errors="replace")[-2000:],
    }


# --- nftables counters: what each tool sent to each service ----------------------------------------------

COUNTERS = {
    "dns_queries": "udp dport 53",
    "ntp_requests": "udp dport 123",
    "http_connections": "tcp dport 80 tcp flags & (syn | ack) == syn",
    "https_connections": "tcp dport 443 tcp flags & (syn | ack) == syn",
}


def add_counters() -> None:
    for name, match in COUNTERS.items():
        subprocess.run(["nft", "add", "counter", "inet", "lyncbench", name], check=True)
        # inserted before the black-hole drop rule: packets sent into the black hole are counted too
        rule = f"insert rule inet lyncbench in ip daddr 127.0.0.0/8 {match} counter name {name}"
        subprocess.run(["nft", *rule.split()], check=True)


def read_counters() -> dict[str, int]:
    out = subprocess.run(["nft", "-j", "list", "counters", "table", "inet", "lyncbench"], capture_output=True)
    values: dict[str, int] = {}
    for item in json.loads(out.stdout).get("nftables", []):
        c = item.get("counter")
        if c:
            values[c["name"]] = int(c["packets"])
    return values


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}


class Probe:
    """Measures one run: the child's rusage, the servers' CPU, the packets sent to each service."""

    def __init__(self, the_lab: lab.Lab | None) -> None:
        self.lab = the_lab

    def __call__(self, argv: list[str], **kw: Any) -> dict[str, Any]:
        cpu0 = self.lab.server_cpu() if self.lab else {}
        c0 = read_counters()
        busy0 = machine_busy()
        result = measure(argv, **kw)
        busy = machine_busy() - busy0
        c1 = read_counters()
        servers = 0.0
        if self.lab:
            cpu1 = self.lab.server_cpu()
            result["server_cpu"] = {k: round(cpu1[k] - cpu0.get(k, 0.0), 2) for k in cpu1}
            servers = sum(result["server_cpu"].values())
        # CPU the whole machine spent meanwhile on anything else (other users' jobs): a noise indicator
        result["other_cpu"] = round(max(0.0, busy - result["cpu"] - servers), 2)
        result["packets"] = delta(c0, c1)
        return result


def machine_busy() -> float:
    """Seconds of CPU (all cores) the machine has spent busy since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- the runs --------------------------------------------------------------------------------------------


WRAP: list[str] = []  # --lyncready-wrap: a profiler command put before lyncready (py-spy record -o F --)


def lyncready_argv(exe: str, domains: list[str], ca: Path, report: Path, extra: list[str]) -> list[str]:
    argv = [*WRAP, exe, "audit", "--nameserver", lab.DNS_ADDRESS, "--ca-bundle", str(ca)]
    argv += ["--output", str(report), *extra]
    for d in domains:
        argv += ["--domain", d]
    return argv


def summarise_report(path: Path, stderr: str = "") -> dict[str, Any]:
    """Counts by status (from a JSON report, else from the summary line lyncready prints on stderr)."""
    if not path.exists():
        return {"error": "no report"}
    size = path.stat().st_size
    if path.suffix != ".json":
        line = next((x for x in stderr.splitlines() if " passed, " in x), "")
        return {"summary": line.removeprefix("lyncready: ").split(";")[0], "report_bytes": size}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}
    counts: dict[str, int] = {}
    slow = 0.0
    for r in data.get("results", []):
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        slow = max(slow, r.get("duration") or 0.0)
    return {
        "results": len(data.get("results", [])),
        "statuses": counts,
        "duration": data.get("duration"),
        "slowest_check": round(slow, 3),
        "report_bytes": size,
    }


REPORT_SUFFIX = [".txt"]  # --report-format json makes it .json


def run_lyncready(
    probe: Probe, exe: str, domains: list[str], ca: Path, work: Path, extra: list[str], repeat: int = 1
) -> dict[str, Any]:
    """The best (lowest wall) of ``repeat`` runs; every run's wall and CPU are kept in ``runs``."""
    runs = []
    for _ in range(repeat):
        report = work / f"report{REPORT_SUFFIX[0]}"
        result = probe(lyncready_argv(exe, domains, ca, report, extra))
        result["report"] = summarise_report(report, result["stderr"])
        report.unlink(missing_ok=True)
        runs.append(result)
    best = dict(min(runs, key=lambda r: r["wall"]))
    best["runs"] = [{k: r[k] for k in ("wall", "cpu", "max_rss_mb", "other_cpu")} for r in runs]
    return best


def run_script(probe: Probe, mode: str, domains: list[str], ca: Path, work: Path) -> dict[str, Any]:
    listing = work / f"domains-{mode}.txt"
    listing.write_text("\n".join(domains) + "\n")
    env = {**os.environ, "CA": str(ca), "NS": lab.DNS_ADDRESS, "T": "3"}
    out = work / f"admin-{mode}.out"
    result = probe(["bash", str(HERE / "admin.sh"), mode, str(listing)], env=env, stdout=out)
    text = out.read_text(errors="replace")
    result["ok"] = {
        "http_200": text.count("http 200"),
        "https_200": text.count("https 200"),
        "ntp_answers": sum(1 for line in text.splitlines() if " s8 " in line or "+/-" in line),
    }
    result["domains_run"] = len(domains)
    return result


def extrapolate(result: dict[str, Any], n: int) -> dict[str, Any]:
    """Scale a sample's wall and CPU linearly to n domains (RSS is per process: unchanged)."""
    k = result["domains_run"]
    if k >= n:
        result["extrapolated"] = False
        return result
    scaled = dict(result)
    for key in ("wall", "cpu", "cpu_user", "cpu_sys"):
        scaled[key] = round(result[key] * n / k, 1)
    scaled["measured"] = {key: result[key] for key in ("wall", "cpu", "cpu_user", "cpu_sys")}
    scaled["extrapolated"] = True
    return scaled


def help_timing(exe: str, runs: int = 9) -> dict[str, Any]:
    walls = []
    for _ in range(runs):
        walls.append(measure([exe, "--help"])["wall"])
    return {"runs": runs, "median": statistics.median(walls), "min": min(walls), "max": max(walls)}


def git_state(exe: str) -> str:
    """The commit measured, and whether the work tree had uncommitted changes in lyncready/ or plugins/.

    The work tree is the one holding ``exe`` (the first parent directory with a .git), so a build from another
    worktree is described as itself."""
    tree = next((d for d in Path(exe).resolve().parents if (d / ".git").exists()), ROOT)
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "lyncready", "plugins"], capture_output=True, text=True
    )
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    state = head.stdout.strip() + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")
    return state if tree == ROOT else f"{tree}: {state}"


def machine() -> dict[str, Any]:
    def first(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"

    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import ssl

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "nsd": first([lab.which("nsd"), "-v"]),
        "nginx": first([lab.which("nginx"), "-v"]),
        "chrony": first([lab.which("chronyd"), "-v"]),
        "dig": first(["dig", "-v"]),
        "curl": first(["curl", "-V"]),
        "sntp": first(["sntp", "--version"]),
    }


def failure_scenarios(probe: Probe, exe: str, the_lab: lab.Lab, work: Path, extra: list[str]) -> dict[str, Any]:
    ca = the_lab.certs.ca_bundle
    out: dict[str, Any] = {}
    scenarios = [
        ("blackhole_each", lab.blackhole_domains(), []),
        ("blackhole_one_address", lab.blackhole_domains(single=True), []),
        ("refused_each", lab.refused_domains(), []),
        ("refused_one_address", lab.refused_domains(single=True), []),
    ]
    for name, domains, more in scenarios:
        print(f"  failure scenario {name} ({len(domains)} domains)", flush=True)
        out[name] = run_lyncready(probe, exe, domains, ca, work, extra + more)
    # the DNS server itself drops every query: --nameserver a black-holed address
    print("  failure scenario dns_blackhole (100 domains)", flush=True)
    report = work / f"report{REPORT_SUFFIX[0]}"
    argv = lyncready_argv(exe, lab.domains(100), ca, report, extra)
    argv[argv.index(lab.DNS_ADDRESS)] = "127.66.255.53"
    r = probe(argv)
    r["report"] = summarise_report(report, r["stderr"])
    out["dns_blackhole"] = r
    print("  failure scenario dns_refused (100 domains)", flush=True)
    argv[argv.index("127.66.255.53")] = "127.0.2.53"
    r = probe(argv)
    r["report"] = summarise_report(report, r["stderr"])
    out["dns_refused"] = r
    return out


def inside(args: argparse.Namespace) -> int:
    if not lab.inside_lab_namespace():
        print("run.py --inside: not in a namespace with only 'lo'; refusing", file=sys.stderr)
        return 3
    exe = args.lyncready
    if args.lyncready_wrap:
        WRAP[:] = args.lyncready_wrap.split()
    if args.report_format == "json":
        REPORT_SUFFIX[0] = ".json"
    sizes = [int(s) for s in args.sizes.split(",") if s]
    extra = list(args.lyncready_arg or [])
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(args.original_argv),
        "machine": machine(),
        "lyncready_extra_args": extra,
        "lyncready_version": subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip(),
        "lyncready_source": git_state(exe),
        "help": help_timing(exe),
        "sizes": {},
    }
    if args.exec:
        return exec_in_lab(args, sizes[0])
    print(f"lyncready --help: median {results['help']['median']:.3f} s", flush=True)
    work_root = Path(tempfile.mkdtemp(prefix="lyncbench-"))
    try:
        for i, n in enumerate(sizes):
            work = work_root / f"n{n}"
            with lab.running_lab(work, n, sans_per_cert=args.sans_per_cert) as the_lab:
                if i == 0:
                    add_counters()
                probe = Probe(the_lab)
                entry: dict[str, Any] = {
                    "lab": {
                        **the_lab.timings,
                        "certificates": len(the_lab.certs.chunks),
                        "sans_per_cert": min(n, args.sans_per_cert),
                        "largest_leaf_der_bytes": the_lab.certs.largest_der,
                    }
                }
                print(f"N={n}: lab ready {the_lab.timings}", flush=True)
                ca = the_lab.certs.ca_bundle
                repeat = args.repeat if n <= 1000 else 1
                entry["lyncready"] = run_lyncready(probe, exe, the_lab.domains, ca, work, extra, repeat)
                print(f"  lyncready {pick(entry['lyncready'])} {entry['lyncready']['report']}", flush=True)
                if not args.no_scripts:
                    full = n <= args.script_full_max
                    for mode, sample in (("seq", args.seq_sample), ("xargs", args.xargs_sample)):
                        doms = the_lab.domains if full else the_lab.domains[:sample]
                        r = extrapolate(run_script(probe, mode, doms, ca, work), n)
                        entry[f"script_{mode}"] = r
                        print(f"  script {mode} {pick(r)} ok={r['ok']} extrapolated={r['extrapolated']}", flush=True)
                    entry["ratio_seq"] = round(entry["script_seq"]["wall"] / entry["lyncready"]["wall"], 1)
                    entry["ratio_xargs"] = round(entry["script_xargs"]["wall"] / entry["lyncready"]["wall"], 1)
                    print(f"  ratios: seq {entry['ratio_seq']}x, xargs {entry['ratio_xargs']}x", flush=True)
                if i == len(sizes) - 1 and not args.no_failures:
                    entry["failures"] = failure_scenarios(probe, exe, the_lab, work, extra)
                    results["failures"] = entry.pop("failures")
                    for name, r in results["failures"].items():
                        print(f"  {name}: {pick(r)} {r['report']}", flush=True)
                results["sizes"][str(n)] = entry
            save(results, args.output)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    print(markdown(results))
    return 0


def exec_in_lab(args: argparse.Namespace, n: int) -> int:
    """--exec CMD: start the lab for n domains and run CMD (bash) in it, for profiling and experiments.

    CMD sees LAB_DIR, LAB_CA (the root to trust), LAB_DOMAINS (a file, one domain a line) and
    LAB_ARGS (the --domain arguments for those domains, as one string, up to 2000 domains).
    """
    work = Path(tempfile.mkdtemp(prefix="lyncbench-exec-"))
    try:
        with lab.running_lab(work, n, sans_per_cert=args.sans_per_cert) as the_lab:
            listing = work / "domains.txt"
            listing.write_text("\n".join(the_lab.domains) + "\n")
            env = {
                **os.environ,
                "LAB_DIR": str(work),
                "LAB_CA": str(the_lab.certs.ca_bundle),
                "LAB_DOMAINS": str(listing),
            }
            if n <= 2000:  # one environment string is limited to 128 KiB: use $(sed 's/^/--domain /' $LAB_DOMAINS)
                env["LAB_ARGS"] = " ".join(f"--domain {d}" for d in the_lab.domains)
            return subprocess.run(["bash", "-c", args.exec], env=env).returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pick(r: dict[str, Any]) -> str:
    return (
        f"wall={r['wall']}s cpu={r['cpu']}s rss={r['max_rss_mb']}MB exit={r['exit']} "
        f"servers={r.get('server_cpu')} other={r.get('other_cpu')} packets={r.get('packets')}"
    )


def save(results: dict[str, Any], output: str) -> None:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| N | tool | wall s | CPU s | peak RSS MB | DNS q | NTP q | HTTP conn | HTTPS conn | script/lyncready |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, e in results["sizes"].items():
        for key, label in (
            ("lyncready", "lyncready audit"),
            ("script_seq", "admin script, sequential"),
            ("script_xargs", "admin script, xargs -P16"),
        ):
            r = e.get(key)
            if r is None:
                continue
            p = r.get("packets", {})
            mark = " (extrapolated)" if r.get("extrapolated") else ""
            ratio = "" if key == "lyncready" else f"{r['wall'] / e['lyncready']['wall']:.1f}x"
            rows.append(
                f"| {n} | {label}{mark} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['max_rss_mb']:.0f} | "
                f"{p.get('dns_queries', '')} | {p.get('ntp_requests', '')} | {p.get('http_connections', '')} | "
                f"{p.get('https_connections', '')} | {ratio} |"
            )
    failures = results.get("failures")
    if failures:
        rows += [
            "",
            "| scenario (100 domains) | wall s | CPU s | packets sent (DNS/NTP/HTTP SYN/HTTPS SYN) | results |",
            "| --- | ---: | ---: | --- | --- |",
        ]
        for name, r in failures.items():
            p = r.get("packets", {})
            sent = "/".join(str(p.get(k, "")) for k in COUNTERS)
            rows.append(f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {sent} | {r['report'].get('summary', '')} |")
    h = results.get("help")
    if h:
        rows += ["", f"`lyncready --help`: median {h['median']:.3f} s over {h['runs']} runs (min {h['min']:.3f} s)"]
    return "\n".join(rows)


# --- the namespace ---------------------------------------------------------------------------------------


def outside(args: argparse.Namespace, argv: list[str]) -> int:
    if os.geteuid() != 0:
        print(
            "run.py needs root: it makes a network namespace (sudo .venv/bin/python benchmarks/run.py)", file=sys.stderr
        )
        return 3
    for tool in ("ip", "nft", "nsd", "chronyd", "nginx", "dig", "curl", "sntp"):
        lab.which(tool)
    ns = f"lyncbench-{os.getpid()}"
    etc = Path("/etc/netns") / ns
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {lab.DNS_ADDRESS}\n")  # anything that resolves asks the lab's NSD
        (etc / "hosts").write_text("127.0.0.1 localhost\n")
        env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":" + lab.SBIN}
        cmd = ["ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()), "--inside", *argv]
        return subprocess.run(cmd, env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(etc, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10,100,1000,10000", help="comma-separated numbers of SIP domains")
    p.add_argument("--lyncready", default=str(DEFAULT_LYNCREADY), help="the lyncready executable to measure")
    p.add_argument("--lyncready-arg", action="append", help="an extra argument for lyncready audit (repeatable)")
    p.add_argument("--lyncready-wrap", help="a profiler command line to run lyncready under (py-spy record ... --)")
    p.add_argument("--script-full-max", type=int, default=1000, help="run the scripts on every domain up to N")
    p.add_argument("--seq-sample", type=int, default=500, help="domains of the sequential script above that")
    p.add_argument("--xargs-sample", type=int, default=2000, help="domains of the xargs -P16 script above that")
    p.add_argument("--sans-per-cert", type=int, default=1000, help="pool FQDNs per certificate (OpenSSL caps size)")
    p.add_argument("--exec", help="start the lab for the first size and run this bash command in it, then stop")
    p.add_argument("--repeat", type=int, default=3, help="lyncready runs per N up to 1000 (the fastest is kept)")
    p.add_argument("--report-format", choices=("text", "json"), default="text", help="lyncready's report format")
    p.add_argument("--no-scripts", action="store_true", help="measure lyncready only")
    p.add_argument("--no-failures", action="store_true", help="skip the black-hole and refused scenarios")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    p.add_argument("--output", default=str(HERE / "results" / f"run-{stamp}.json"), help="results JSON file")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--table", metavar="JSON", help="print the Markdown tables of a results file and exit")
    args = p.parse_args(argv)
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())))
        return 0
    if args.inside:
        args.original_argv = ["benchmarks/run.py", *argv[1:]] if argv and argv[0] == "--inside" else argv
        return inside(args)
    args.output = str(Path(args.output).resolve())
    rest, skip = [], False
    for a in argv:  # the output path is passed on resolved (the namespace's working directory may differ)
        if skip or a.startswith("--output="):
            skip = False
            continue
        if a == "--output":
            skip = True
            continue
        rest.append(a)
    return outside(args, [*rest, "--output", args.output])


if __name__ == "__main__":
    sys.exit(main())
