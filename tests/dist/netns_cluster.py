#!/usr/bin/python3
"""netns_cluster.py — a throwaway cluster of "nodes" on this machine for the
cluster tests: each node is a Linux network namespace with its own address on
a private 10.213.0.0/24 link (veth pairs on a bridge that lives in a third,
"switch" namespace), and its own hostname (a UTS namespace per command), so
Open MPI and Slurm see separate hosts that talk TCP over the veth links. The
filesystem is shared, as a cluster's shared storage is.

    with Cluster(2) as c:                  # nodes node1 (10.213.0.1), node2 (10.213.0.2)
        c.run(1, ["hostname"])             # a command on node1
        c.mpirun(hostfile args...)         # mpirun on node1, remote daemons via c.agent
        c.tx_bytes(2)                      # bytes node2 has sent over its link

Only these namespaces' addresses are ever contacted. Everything started on a
node is killed when the cluster stops (every process in its namespaces), and
the namespaces and links are deleted, also when a test fails. Needs root and
`ip netns`; Cluster.unavailable() says why not, for a visible skip.

Running it directly (`netns_cluster.py [N]`) starts a cluster, prints how to
reach it and waits for Ctrl-C: handy to try mpirun or Slurm by hand.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

SUBNET = "10.213.0"
IFACE = "anc0"  # the node's end of its link, the same name on every node


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable():
    """None when namespaces can be made here, else the reason (for a skip)."""
    if os.geteuid() != 0:
        return "the cluster tests need root (network namespaces)"
    for tool in ("ip", "unshare", "nsenter"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return f"the cluster tests need `{tool}` (iproute2, util-linux)"
    name = f"ancprobe{os.getpid()}"
    p = _ip("netns", "add", name, check=False)
    if p.returncode != 0:
        return f"this machine can't create network namespaces: ip netns add: {p.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


def _kill_all_in(names):
    for _ in range(3):
        pids = []
        for ns in names:
            p = _ip("netns", "pids", ns, check=False)
            pids += [int(x) for x in p.stdout.split()] if p.returncode == 0 else []
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def sweep_stale():
    """Removes the namespaces (and what runs in them) of clusters whose test
    process is gone: one killed by a timeout had no chance to clean up."""
    p = _ip("netns", "list", check=False)
    stale = [m.group(0) for m in (re.match(r"anc(\d+)(n\d+|sw)$", line.split()[0]) for line in p.stdout.splitlines()
                                  if line.strip())
             if m and not os.path.exists(f"/proc/{m.group(1)}")]
    _kill_all_in(stale)
    for ns in stale:
        _ip("netns", "del", ns, check=False)


class Cluster:
    def __init__(self, n=2, tmp=None):
        self.n = n
        self.tag = f"anc{os.getpid()}"
        self.tmp = tmp or tempfile.mkdtemp(prefix="alexnet-cluster-")
        self.switch = f"{self.tag}sw"
        self.ns = {i: f"{self.tag}n{i}" for i in range(1, n + 1)}
        self.agent = os.path.join(self.tmp, "node-agent.sh")
        self.hostfile = os.path.join(self.tmp, "hosts.txt")

    # --- addresses and names
    def addr(self, i):
        return f"{SUBNET}.{i}"

    def host(self, i):
        return f"node{i}"

    def node_of(self, name_or_addr):
        for i in self.ns:
            if name_or_addr in (self.host(i), self.addr(i)):
                return i
        raise KeyError(name_or_addr)

    # --- life cycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        sweep_stale()
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, ns in self.ns.items():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            peer = f"p{i}"
            _ip("-n", ns, "link", "add", IFACE, "type", "veth", "peer", "name", peer, "netns", self.switch)
            _ip("-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", IFACE)
            _ip("-n", ns, "link", "set", IFACE, "up")
            _ip("-n", self.switch, "link", "set", peer, "master", "br0")
            _ip("-n", self.switch, "link", "set", peer, "up")
        self._write_agent()
        with open(self.hostfile, "w") as f:
            for i in self.ns:
                f.write(f"{self.addr(i)} slots=1\n")
        # the links are up when every node's end says so (the bridge has no STP: ports forward at once)
        for _ in range(50):
            if all(json.loads(_ip("-n", ns, "-j", "link", "show", "dev", IFACE).stdout)[0]["operstate"] == "UP"
                   for ns in self.ns.values()):
                break
            time.sleep(0.1)

    def _write_agent(self):
        """Open MPI's rsh agent: `agent HOST COMMAND...` runs COMMAND on that
        node (in its namespace, with its hostname), as ssh would."""
        cases = "\n".join(f"  {self.addr(i)}|{self.host(i)}) ns={self.ns[i]}; name={self.host(i)} ;;" for i in self.ns)
        with open(self.agent, "w") as f:
            f.write(f"""#!/bin/sh
# rsh agent of a netns test cluster (tests/netns_cluster.py): runs a command on a node
host=$1; shift
case "$host" in
{cases}
  *) echo "node-agent: no node $host in this test cluster" >&2; exit 255 ;;
esac
exec nsenter --net=/run/netns/"$ns" unshare --uts sh -c 'hostname "$0"; exec sh -c "$1"' "$name" "$*"
""")
        os.chmod(self.agent, 0o755)

    def stop(self):
        """Kills everything running on the nodes, then deletes the namespaces (and so the links)."""
        names = list(self.ns.values()) + [self.switch]
        _kill_all_in(names)
        for ns in names:
            _ip("netns", "del", ns, check=False)

    # --- running things on nodes
    def wrap(self, i, cmd):
        """The command line that runs cmd on node i (own network namespace and hostname)."""
        # nsenter, not `ip netns exec`: that remounts /sys, and slurmd needs the cgroup mounts in it
        return ["nsenter", f"--net=/run/netns/{self.ns[i]}", "unshare", "--uts", "sh", "-c",
                'hostname "$0"; exec "$@"', self.host(i)] + list(cmd)

    def run(self, i, cmd, timeout=600, check=True, **kw):
        p = subprocess.run(self.wrap(i, cmd), capture_output=True, text=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise RuntimeError(f"on {self.host(i)}: {' '.join(cmd)}: rc {p.returncode}: {p.stderr[-400:]}")
        return p

    def popen(self, i, cmd, **kw):
        return subprocess.Popen(self.wrap(i, cmd), **kw)

    def mpirun_args(self, np=None):
        """mpirun options for a job over the nodes: hostfile, the agent as launcher, TCP only on the links."""
        net = f"{SUBNET}.0/24"
        return ["--allow-run-as-root", "--hostfile", self.hostfile, "-np", str(np or self.n), "--map-by", "node",
                # the nodes share this machine's cores: Open MPI would pin every node's rank 0 to core 0
                "--bind-to", "none",
                "--mca", "plm_rsh_agent", self.agent, "--mca", "btl", "tcp,self",
                "--mca", "btl_tcp_if_include", net, "--mca", "oob_tcp_if_include", net,
                # notice a daemon whose node went silent in ~10 s, not the default 8 minutes
                "--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2",
                "--mca", "oob_tcp_keepalive_probes", "3"]

    def link_stats(self, i):
        p = _ip("-n", self.ns[i], "-j", "-s", "link", "show", "dev", IFACE)
        s = json.loads(p.stdout)[0]["stats64"]
        return s["tx"]["bytes"], s["rx"]["bytes"]

    def tx_bytes(self, i):
        return self.link_stats(i)[0]

    def link_down(self, i):
        """Cuts node i off the network (its processes keep running): a dead switch port."""
        _ip("-n", self.switch, "link", "set", f"p{i}", "down")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    why = unavailable()
    if why:
        print(why)
        sys.exit(77)
    with Cluster(n) as c:
        print(f"nodes: " + ", ".join(f"{c.host(i)} {c.addr(i)} (ip netns exec {c.ns[i]} ...)" for i in c.ns))
        print(f"mpirun {' '.join(shlex.quote(a) for a in c.mpirun_args())} CMD  (run it on node1: {' '.join(c.wrap(1, ['bash']))})")
        print("Ctrl-C stops the cluster")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
