# Shared by the clusterhpc sbatch scripts (sourced, not run). Functions only, no site settings.
#
# Environment read here (all optional):
#   IMAGE         Apptainer image (.sif); unset = run the current Python environment
#   PYTHON        Python with clusterhpc installed, when no IMAGE [python3 on PATH]
#   APPTAINER     apptainer or singularity command [apptainer]
#   NV            1: pass --nv to apptainer, 0: do not [1 when nvidia-smi exists]
#   BINDS         extra comma-separated apptainer --bind specs (e.g. /scratch,/data:/data:ro)
#   MAX_REQUEUES  requeue at most this many times after a checkpointed stop [10]

EXIT_REQUEUE=75  # clusterhpc.train.signals.EXIT_REQUEUE: checkpoint written, resubmit to continue

chpc_die() {
    echo "${CHPC_SCRIPT:-clusterhpc}: error: $*" >&2
    exit 64
}

chpc_log() {
    echo "$(date +%H:%M:%S) ${CHPC_SCRIPT:-clusterhpc}: $*" >&2
}

# chpc_require NAME "what it is": refuse to start when the variable is unset or empty.
chpc_require() {
    [ -n "${!1:-}" ] || chpc_die "$1 is not set: $2 (see the header of $CHPC_SCRIPT)"
}

# chpc_command DIR...: sets the array CHPC_CMD to the clusterhpc command, inside IMAGE when set
# (each DIR is bound into the container at the same path), else `$PYTHON -m clusterhpc`.
chpc_command() {
    if [ -z "${IMAGE:-}" ]; then
        local python="${PYTHON:-python3}"
        command -v "$python" >/dev/null || chpc_die "PYTHON=$python not found"
        CHPC_CMD=("$python" -m clusterhpc)
        return
    fi
    [ -r "$IMAGE" ] || chpc_die "IMAGE=$IMAGE is not a readable file"
    local apptainer="${APPTAINER:-apptainer}" nv="${NV:-}" dir bind
    command -v "$apptainer" >/dev/null || chpc_die "APPTAINER=$apptainer not found on PATH"
    if [ -z "$nv" ]; then
        nv=0
        command -v nvidia-smi >/dev/null && nv=1
    fi
    CHPC_CMD=("$apptainer" exec)
    [ "$nv" = 1 ] && CHPC_CMD+=(--nv)
    for dir in "$@"; do
        [ -n "$dir" ] && CHPC_CMD+=(--bind "$dir")
    done
    if [ -n "${BINDS:-}" ]; then
        IFS=, read -ra binds <<<"$BINDS"
        for bind in "${binds[@]}"; do CHPC_CMD+=(--bind "$bind"); done
    fi
    CHPC_CMD+=("$IMAGE" clusterhpc)
}

# chpc_step ARGS...: run `srun ARGS...` in the background; Slurm's warning signal (USR1, sent
# to this batch shell by --signal=B:USR1@T) and TERM are forwarded to the step, whose ranks
# then checkpoint and exit 75. Returns the step's exit code; sets CHPC_WARNED=1 after USR1.
# --kill-on-bad-exit=1: a task that fails (or dies of a signal) ends the whole step at once,
# instead of leaving the other ranks waiting in a collective until the time limit.
CHPC_WARNED=0
chpc_step() {
    srun --kill-on-bad-exit=1 "$@" &
    local pid=$! rc=0
    trap 'CHPC_WARNED=1; chpc_log "USR1: time limit near, asking the step to checkpoint"
          kill -USR1 '"$pid" USR1
    local termed=0
    trap 'termed=1; chpc_log "TERM: forwarding to the step"; kill -TERM '"$pid" TERM
    wait "$pid" || rc=$?
    while kill -0 "$pid" 2>/dev/null; do  # `wait` returned early because a trap ran
        rc=0
        wait "$pid" || rc=$?
    done
    trap - USR1 TERM
    # srun ended by TERM after Slurm cancelled the step (a node failure, scancel) may exit 0:
    # the step did not finish, so do not report success (ranks that checkpointed exit 75).
    if [ "$termed" = 1 ] && [ "$rc" -eq 0 ]; then
        chpc_log "the step was terminated (SIGTERM) before it finished"
        rc=143
    fi
    return "$rc"
}

# chpc_stage SRC DEST: copy directory SRC to DEST on every node of the job (one task per node),
# for node-local disks: a parallel file system suffers from many ranks reading small files.
# Each node copies to DEST.partial, then renames it, so a copy cut short (a node lost, a time
# limit) never looks whole; a requeued job copies again.
chpc_stage() {
    local src="$1" dest="$2" nodes="${SLURM_JOB_NUM_NODES:-1}"
    [ -d "$src" ] || chpc_die "cannot stage $src: not a directory"
    chpc_log "staging $src to $dest on each of $nodes node(s)"
    srun --kill-on-bad-exit=1 --mpi=none --nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 \
        sh -c 'mkdir -p "$(dirname "$2")" && rm -rf "$2.partial" && cp -R "$1" "$2.partial" \
               && rm -rf "$2" && mv "$2.partial" "$2"' sh "$src" "$dest" \
        || chpc_die "staging $src to $dest failed"
}

# chpc_finish RC: requeue the job after a checkpointed stop (exit 75), so that it continues from
# its last checkpoint; else exit with RC. After the warning, a step ended by USR1, TERM or KILL
# (exit 128+N) is requeued too: the warning killed a rank not yet listening for it (still
# starting), or --kill-on-bad-exit ended the ranks still writing or exiting once another had
# exited 75. The checkpoints on disk are whole either way (written, then renamed).
chpc_finish() {
    local rc=$1 restarts="${SLURM_RESTART_COUNT:-0}" limit="${MAX_REQUEUES:-10}"
    if [ "$CHPC_WARNED" = 1 ]; then
        case "$rc" in
            137 | 138 | 143)
                chpc_log "after the warning, a signal ended the step (exit $rc)"
                rc=$EXIT_REQUEUE
                ;;
        esac
    fi
    if [ "$rc" -ne "$EXIT_REQUEUE" ]; then
        chpc_log "step finished with exit code $rc"
        exit "$rc"
    fi
    if [ "$restarts" -ge "$limit" ]; then
        chpc_log "checkpointed, but already requeued $restarts times (MAX_REQUEUES=$limit): stopping"
        exit "$rc"
    fi
    chpc_log "checkpointed; requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $limit)"
    scontrol requeue "$SLURM_JOB_ID" || chpc_die "scontrol requeue $SLURM_JOB_ID failed"
    exit 0
}
