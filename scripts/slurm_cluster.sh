#!/usr/bin/env bash
# Bring a one-node SLURM cluster (slurm-wlm + munge from Debian) up or down on localhost, for the `slurm` tests
# and for trying the sbatch scripts on a laptop.
#
#   eval "$(scripts/slurm_cluster.sh up)"   # starts munged, slurmctld, slurmd; prints `export SLURM_CONF=...`
#   scripts/slurm_cluster.sh status          # sinfo of the running cluster
#   scripts/slurm_cluster.sh down            # stops the three daemons (by their pid files) and keeps the logs
#
# Everything (config, munge key and socket, state, spool, logs, finished-job log) lives under one folder,
# $NEMO_MATH_SLURM_DIR (default /tmp/nemo-math-slurm), so nothing in /etc is touched. Needs root: slurmd runs
# the jobs and munged must own its key. `sacct` needs slurmdbd, which we do not run: finished jobs are in
# $NEMO_MATH_SLURM_DIR/jobcomp.txt (jobcomp/filetxt) and `scontrol show job` keeps them for MinJobAge seconds.
set -euo pipefail

STATE=${NEMO_MATH_SLURM_DIR:-/tmp/nemo-math-slurm}
CPUS=${NEMO_MATH_SLURM_CPUS:-8}          # advertised CPUs (config_overrides): lets array tasks run side by side
MEM_MB=${NEMO_MATH_SLURM_MEM_MB:-16000}
CTLD_PORT=${NEMO_MATH_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${NEMO_MATH_SLURM_SLURMD_PORT:-6818}
CONF=$STATE/slurm.conf

say() { echo "slurm_cluster: $*" >&2; }

stop_pidfile() {  # stop the daemon named by a pid file, wait for it to exit
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

write_conf() {
  cat >"$CONF" <<EOF
# one-node test cluster written by scripts/slurm_cluster.sh
ClusterName=nemomath
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=3600
KillWait=5
# a quick loop for tests: jobs start and dependencies resolve within a second or two
SchedulerParameters=sched_interval=1,bf_interval=1,defer_batch
MessageTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_munge() {
  mkdir -p "$STATE/munge"
  chmod 755 "$STATE/munge"  # munged refuses a socket dir that others can write, clients need to reach it
  if [ ! -s "$STATE/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$STATE/munge/munge.key"
  fi
  chmod 400 "$STATE/munge/munge.key"
  munged --force --key-file="$STATE/munge/munge.key" --socket="$STATE/munge/munge.socket.2" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
}

wait_idle() {  # until the node reports idle (or mixed/alloc if jobs are left from a previous run)
  for _ in $(seq 150); do
    state=$(SLURM_CONF=$CONF sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case $state in idle | mix | alloc) return 0 ;; esac
    sleep 0.2
  done
  say "node never became idle (state: ${state:-none}); logs in $STATE/log"
  return 1
}

up() {
  local me
  me=$(id -u)
  [ "$me" = 0 ] || { say "must run as root (slurmd runs the jobs, munged owns its key)"; exit 1; }
  for bin in munged slurmctld slurmd sinfo; do
    command -v "$bin" >/dev/null || { say "$bin not found: apt-get install slurm-wlm munge"; exit 1; }
  done
  if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null && wait_idle; then
    say "already up"
  else
    down_daemons
    mkdir -p "$STATE"/{ctld,slurmd,log}
    chmod 755 "$STATE"
    write_conf
    start_munge
    SLURM_CONF=$CONF slurmctld -c -i
    SLURM_CONF=$CONF slurmd -N localhost
    wait_idle
    say "up: $(SLURM_CONF=$CONF sinfo -h -o '%P %D %c %t')"
  fi
  echo "export SLURM_CONF=$CONF"
  echo "export NEMO_MATH_SLURM_DIR=$STATE"
}

down_daemons() {
  stop_pidfile "$STATE/slurmd.pid"
  stop_pidfile "$STATE/slurmctld.pid"
  stop_pidfile "$STATE/munge/munged.pid"
}

case ${1:-} in
  up) up ;;
  down) down_daemons; say "down (logs kept in $STATE/log)" ;;
  status) SLURM_CONF=$CONF sinfo ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
