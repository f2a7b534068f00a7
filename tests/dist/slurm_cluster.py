#!/usr/bin/python3
"""slurm_cluster.py — Slurm on a netns test cluster (tests/netns_cluster.py):
munged, slurmctld and one slurmd per node, all in the nodes' namespaces, with
a generated munge key and a slurm.conf in the cluster's temporary folder
(nothing in /etc is read or changed). Stopping the cluster stops them all.

    with Cluster(2) as c, Slurm(c) as s:
        s.run(["srun", "--mpi=pmix", "-N", "2", "hostname"])    # on node1, SLURM_CONF set

unavailable() says why Slurm can't run here (not installed, no pmix plugin).
"""
import os
import shutil
import subprocess
import time

PLUGIN_DIRS = ["/usr/lib/x86_64-linux-gnu/slurm-wlm", "/usr/lib/aarch64-linux-gnu/slurm-wlm", "/usr/lib/slurm"]


def unavailable():
    for tool in ("slurmctld", "slurmd", "srun", "sbatch", "munged"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"Slurm is not installed (no {tool}): scripts/install-deps.sh test installs slurmd, slurmctld, slurm-client, munge"
    if not any(os.path.exists(os.path.join(d, "mpi_pmix.so")) for d in PLUGIN_DIRS):
        return "Slurm has no pmix plugin (mpi_pmix.so) here"
    return None


class Slurm:
    def __init__(self, cluster):
        self.c = cluster
        self.dir = os.path.join(cluster.tmp, "slurm")
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.sock = os.path.join(self.dir, "munge.sock")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.procs = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def daemon(self, node, cmd, log):
        out = open(os.path.join(self.dir, log), "w")
        self.procs.append(self.c.popen(node, cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env))

    def start(self):
        d = self.dir
        os.makedirs(d, mode=0o700)
        key = os.path.join(d, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self.daemon(1, ["munged", "-F", "--force", f"--socket={self.sock}", f"--key-file={key}",
                        f"--pid-file={d}/munged.pid", f"--seed-file={d}/munged.seed", f"--log-file={d}/munged.log"],
                    "munged.out")
        for _ in range(100):
            if os.path.exists(self.sock):
                break
            time.sleep(0.05)
        c = self.c
        nodes = "\n".join(f"NodeName={c.host(i)} NodeAddr={c.addr(i)} CPUs={os.cpu_count()} RealMemory=1000 State=UNKNOWN"
                          for i in c.ns)
        names = ",".join(c.host(i) for i in c.ns)
        with open(self.conf, "w") as f:
            f.write(f"""# a throwaway Slurm for tests/slurm_cluster.py
ClusterName=alexnettest
SlurmctldHost={c.host(1)}({c.addr(1)})
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket={self.sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/ctld
SlurmdSpoolDir={d}/spool-%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
KillWait=5
MessageTimeout=10
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
PlugStackConfig={d}/plugstack.conf
TmpFS={d}/nodetmp
{nodes}
PartitionName=test Nodes={names} Default=YES MaxTime=INFINITE State=UP
""")
        open(os.path.join(d, "plugstack.conf"), "w").close()
        # node-local scratch: the pmix plugin makes its per-step folders there, by names that would clash on one /tmp
        with open(os.path.join(d, "mpi.conf"), "w") as f:
            f.write(f"PMIxCliTmpDirBase={d}/nodetmp\n")
        os.makedirs(os.path.join(d, "nodetmp"))
        os.makedirs(os.path.join(d, "ctld"))
        self.daemon(1, ["slurmctld", "-D", "-i", "-f", self.conf], "slurmctld.out")
        for i in c.ns:
            os.makedirs(os.path.join(d, f"spool-{c.host(i)}"))
            local = os.path.join(d, f"tmp-{c.host(i)}")
            os.makedirs(local)
            # each slurmd (and its jobs) sees its own folder at TmpFS, in a mount namespace of its own
            self.daemon(i, ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount --bind "$0" "$1" && shift && exec "$@"', local, f"{d}/nodetmp",
                            "slurmd", "-D", "-N", c.host(i), "-f", self.conf], f"slurmd-{c.host(i)}.out")
        # ready when both nodes are idle
        t0 = time.time()
        while time.time() - t0 < 60:
            p = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=False, timeout=20)
            states = dict(line.split() for line in p.stdout.splitlines() if len(line.split()) == 2)
            if len(states) == len(c.ns) and all(s == "idle" for s in states.values()):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm did not come up in 60 s: {self.logs()}")

    def logs(self):
        text = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith((".log", ".out")):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text.append(f"--- {name}\n{f.read()[-1500:]}")
        return "\n".join(text)

    def run(self, cmd, node=1, timeout=600, check=True):
        p = subprocess.run(self.c.wrap(node, cmd), capture_output=True, text=True, timeout=timeout, env=self.env)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: rc {p.returncode}: {p.stderr[-600:]}")
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
