# Sourced by the bench scripts: starts an importd on 127.0.0.1 (a port the
# system picks) with its own data directory under WORK, and waits until it
# serves. Sets IMPORTD_PID, and exports IMPORTCTL_SERVER and IMPORTCTL_TOKEN
# (what importctl and the Python client read). Its stdin is a FIFO held open
# by this shell: the server stops when the script exits.
#
#   start_importd WORK NAME [importd flags...]
start_importd() {
    local work=$1 name=$2
    shift 2
    rm -rf "$work/data.$name"
    mkfifo "$work/in.$name"
    (.build/release/importd --listen 127.0.0.1:0 --data-dir "$work/data.$name" --log-level warning "$@" \
        < "$work/in.$name" > "$work/importd.$name.log" 2>&1 & echo $! > "$work/pid.$name")
    exec {IMPORTD_FD}>"$work/in.$name"
    for _ in $(seq 100); do
        [ -s "$work/data.$name/admin.token" ] && grep -q "listening on" "$work/importd.$name.log" 2>/dev/null && break
        sleep 0.1
    done
    IMPORTD_PID=$(cat "$work/pid.$name")
    export IMPORTCTL_SERVER=127.0.0.1:$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/importd.$name.log" | head -1)
    export IMPORTCTL_TOKEN=$(cat "$work/data.$name/admin.token")
}

# Stops the importd started last.
stop_importd() {
    kill "$IMPORTD_PID"
    wait "$IMPORTD_PID" 2>/dev/null || true
    # Not this shell's child (started in a subshell): wait until it is gone.
    for _ in $(seq 200); do kill -0 "$IMPORTD_PID" 2>/dev/null || break; sleep 0.05; done
    exec {IMPORTD_FD}>&-
}
