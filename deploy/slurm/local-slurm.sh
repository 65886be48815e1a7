#!/bin/bash
# A single-node Slurm on this machine (Debian's slurm-wlm 22.05 and munge), for trying
# deploy/slurm/syre-tune.sbatch without a cluster:
#
#   sudo apt-get install -y slurm-wlm munge     # once
#   deploy/slurm/local-slurm.sh start           # prints the SLURM_CONF to export
#   deploy/slurm/local-slurm.sh stop
#
# Everything it writes is under $SYRE_SLURM_DIR (default /tmp/syre-slurm): the configuration, the
# daemons' state and logs. It runs the daemons as the current user (root in a container), one node
# named after this host with all its CPUs, no cgroups and no accounting.
set -euo pipefail
dir=${SYRE_SLURM_DIR:-/tmp/syre-slurm}
conf=$dir/slurm.conf

start() {
    command -v slurmctld > /dev/null || { echo "local-slurm.sh: slurmctld not found: apt-get install slurm-wlm munge" >&2; exit 2; }
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
    user=$(id -un)
    cat > "$conf" <<CONF
ClusterName=syre-local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$conf
    if ! pgrep -x munged > /dev/null; then
        if [ "$user" = root ]; then
            mkdir -p /run/munge && chown munge:munge /run/munge
            runuser -u munge -- /usr/sbin/munged
        else
            /usr/sbin/munged
        fi
    fi
    pgrep -x slurmctld > /dev/null || slurmctld -c
    pgrep -x slurmd > /dev/null || slurmd -c
    for _ in $(seq 60); do
        if sinfo -h -o %T 2> /dev/null | grep -qx idle; then
            echo "export SLURM_CONF=$conf"
            return 0
        fi
        sleep 1
    done
    echo "local-slurm.sh: the node did not become idle; see $dir/log" >&2
    exit 2
}

stop() {
    pkill -x slurmd || true
    pkill -x slurmctld || true
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: local-slurm.sh start|stop" >&2; exit 2 ;;
esac
