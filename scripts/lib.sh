# Shared by the scripts: start linkd on a free local port and wait for it.
#   start_linkd DATA_DIR [linkd options...]
# Sets $pid and $server; linkd's log is DATA_DIR.log; kills it on exit.
start_linkd() {
  local dir=$1
  shift
  "$bin/linkd" --db "$dir" --listen 127.0.0.1:0 "$@" 2> "$dir.log" &
  pid=$!
  trap 'kill -9 $pid 2> /dev/null || true' EXIT
  local port=""
  for _ in $(seq 1 600); do
    port=$(grep -o '"port":[0-9]*' "$dir.log" | head -1 | cut -d: -f2 || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2> /dev/null || { cat "$dir.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "linkd did not start" >&2; cat "$dir.log" >&2; exit 1; }
  server=127.0.0.1:$port
  "$bin/linkctl" --server "$server" health --wait "${LINKD_WAIT:-60}" > /dev/null
}

# Stops the linkd started by start_linkd, gracefully.
stop_linkd() {
  kill -TERM "$pid"
  wait "$pid"
  trap - EXIT
}
