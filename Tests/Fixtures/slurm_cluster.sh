#!/bin/bash
# A one-machine Slurm cluster for the tests, from Debian's slurm-wlm and munge: munged, slurmctld and
# slurmd on loopback, one node with the machine's CPUs, everything (keys, state, logs, sockets) under DIR.
#
#   slurm_cluster.sh start DIR CTLD_PORT SLURMD_PORT   prints "ready SLURM_CONF" once a job can run, or
#                                                      "failed DAEMON: reason" and the daemon's log, exit 1
#   slurm_cluster.sh stop DIR                          stops the daemons it started
#
# Root is needed (slurmd starts job steps as the submitting user). Clients find the cluster through
# SLURM_CONF=DIR/slurm.conf.
set -u
command=$1 dir=$2

# The daemons must not keep any descriptor of the process that started this script beyond 0-2: a pipe
# of the test process inherited here (its other children's output, say) would never reach end-of-file.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2> /dev/null && eval "exec $fd>&-" 2> /dev/null
done

stop() {
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2> /dev/null
  done
  sleep 0.5
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2> /dev/null
  done
  return 0
}

if [ "$command" = stop ]; then stop; exit 0; fi

ctld_port=$3 slurmd_port=$4
fail() {
  echo "failed $1: $2"
  [ -n "${3:-}" ] && [ -f "$3" ] && tail -n 30 "$3"
  stop
  exit 1
}
for tool in munged mungekey slurmctld slurmd sbatch scontrol; do
  command -v "$tool" > /dev/null || fail "$tool" "not installed: install Debian's slurm-wlm and munge (scripts/setup.sh does)"
done
[ "$(id -u)" = 0 ] || fail slurmd "must run as root to start job steps (the tests' machine runs them as root)"

mkdir -p "$dir"/state "$dir"/spool "$dir"/munge
chmod 700 "$dir" "$dir"/munge
mungekey --create --force --keyfile="$dir"/munge/munge.key > /dev/null 2>&1 || fail munged "mungekey could not create a key"
chmod 600 "$dir"/munge/munge.key
munged --force --key-file="$dir"/munge/munge.key --socket="$dir"/munge/munge.socket --pid-file="$dir"/munged.pid \
  --log-file="$dir"/munged.log --seed-file="$dir"/munge/munged.seed > /dev/null 2>&1 || fail munged "did not start" "$dir"/munged.log

node=$(hostname -s)
# Every CPU the machine has (nproc alone follows OMP_NUM_THREADS, which the test process may set), and at
# least 2: the tests' jobs have two tasks (SlurmdParameters=config_overrides lets the node claim more than it has).
cpus=$(nproc --all)
[ "$cpus" -ge 2 ] || cpus=2
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir"/slurm.conf << CONF
ClusterName=scoretest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF="$dir"/slurm.conf
slurmctld -f "$SLURM_CONF" -i > /dev/null 2>&1 || fail slurmctld "did not start" "$dir"/slurmctld.log
slurmd -f "$SLURM_CONF" -N "$node" > /dev/null 2>&1 || fail slurmd "did not start" "$dir"/slurmd.log

# Ready when the node is idle: the controller answers and the node daemon registered.
for _ in $(seq 1 120); do
  state=$(sinfo -h -N -o '%t' 2> /dev/null | head -n 1)
  case "$state" in
    idle*) echo "ready $SLURM_CONF"; exit 0 ;;
  esac
  sleep 0.5
done
[ -n "$(scontrol ping 2> /dev/null | grep -i up)" ] || fail slurmctld "does not answer on port $ctld_port" "$dir"/slurmctld.log
fail slurmd "node $node did not become idle within 60 s (state: ${state:-unknown})" "$dir"/slurmd.log
