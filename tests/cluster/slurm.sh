#!/usr/bin/env bash
# A single-node SLURM on this machine, for the cluster test (tests/cluster/test_cluster.py).
#
#   tests/cluster/slurm.sh install   # Debian's slurm-wlm and munge (needs root and the Debian mirror)
#   tests/cluster/slurm.sh start     # writes $SLURM_DIR/slurm.conf, starts munged, slurmctld, slurmd
#   tests/cluster/slurm.sh stop      # stops the daemons that `start` started
#
# The config goes to /etc/slurm, where slurmd, sbatch and the srun inside each job
# look (a job does not inherit SLURM_CONF); state and logs go to $SLURM_DIR. The node is
# this machine with its real cores and memory, and declares one GPU (a GRES with a
# count and no device file), so that sbatch --gpus=1 is scheduled and accounted
# like on a cluster even when the machine has no card. No accounting daemon
# (slurmdbd) runs, as on many small clusters; see README "Run on a cluster".
set -euo pipefail

SLURM_DIR=${SLURM_DIR:-/tmp/abawflow-slurm}
command=${1:?usage: slurm.sh install|start|stop}

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends slurm-wlm munge
}

MARKER="# written by abawflow tests/cluster/slurm.sh"

start() {
    if [[ -e /etc/slurm/slurm.conf ]] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf; then
        echo "slurm.sh: /etc/slurm/slurm.conf exists and is not ours; refusing to replace it" >&2
        exit 1
    fi
    mkdir -p "$SLURM_DIR"/{state,spool,log,munge} /etc/slurm
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat >/etc/slurm/slurm.conf <<CONF
$MARKER
ClusterName=abawflow-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SLURM_DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=$host MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
CONF
    cat >/etc/slurm/gres.conf <<CONF
$MARKER
NodeName=$host Name=gpu File=/dev/null Count=1
CONF
    munged --force --socket="$SLURM_DIR/munge/munge.socket" \
        --pid-file="$SLURM_DIR/munge/munged.pid" --log-file="$SLURM_DIR/log/munged.log" \
        --seed-file="$SLURM_DIR/munge/munged.seed"
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if [[ $(sinfo --noheader --Node --format=%T 2>/dev/null | sort -u) == idle ]]; then
            return
        fi
        sleep 1
    done
    echo "slurm.sh: the node did not become idle within 60 s; logs in $SLURM_DIR/log" >&2
    sinfo -N -l >&2 || true
    exit 1
}

stop() {
    local pidfile
    for pidfile in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
        if [[ -s $pidfile ]]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    sleep 1
}

"$command"
