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

# A NATS JetStream cluster of N servers (default 3) on loopback, for the
# replicated log (DESIGN §11): clients on PORT..PORT+N-1, routes on
# PORT+2000.., monitoring (HTTP) on PORT+1000.., stores and logs under DIR.
#   start_nats DIR PORT [N]
# Sets $nats_urls (nats://...,nats://...) and appends the servers' pids
# to the array nats_pids (the caller kills them).
start_nats() {
  local dir=$1 port=$2 n=${3:-3} i routes=""
  mkdir -p "$dir"
  nats_urls=""
  for ((i = 0; i < n; i++)); do
    routes+="${routes:+, }nats-route://127.0.0.1:$((port + 2000 + i))"
  done
  for ((i = 0; i < n; i++)); do
    local name=n$((i + 1))
    {
      echo "server_name: $name"
      echo "listen: 127.0.0.1:$((port + i))"
      echo "max_payload: 8MB"
      echo "http: 127.0.0.1:$((port + 1000 + i))"
      echo "jetstream { store_dir: \"$dir/$name\" }"
      if ((n > 1)); then
        echo "cluster { name: linkd-local, listen: 127.0.0.1:$((port + 2000 + i)), routes: [$routes] }"
      fi
    } > "$dir/$name.conf"
    nats-server -c "$dir/$name.conf" > "$dir/$name.log" 2>&1 &
    nats_pids+=($!)
    nats_urls+="${nats_urls:+,}nats://127.0.0.1:$((port + i))"
  done
  # Each must be listening (a port in use makes one exit at once).
  for ((i = 0; i < n; i++)); do
    local log="$dir/n$((i + 1)).log"
    for _ in $(seq 1 100); do
      grep -q "Server is ready" "$log" && break
      grep -q "\[FTL\]" "$log" && break
      sleep 0.1
    done
    grep -q "Server is ready" "$log" || { echo "nats-server n$((i + 1)) did not start:" >&2; tail -3 "$log" >&2; return 1; }
  done
}

# Starts a linkd in the background on a free port and waits for its start
# line (not for SERVING: a reader may be catching up).
#   start_node NAME DIR [linkd options...]
# Sets ${NAME}_server and ${NAME}_pid; its log is DIR/NAME.log, its
# database DIR/NAME.
start_node() {
  local name=$1 dir=$2
  shift 2
  "$bin/linkd" --db "$dir/$name" --listen 127.0.0.1:0 "$@" 2> "$dir/$name.log" &
  local pid=$! port=""
  for _ in $(seq 1 3000); do
    port=$(grep -o '"event":"start".*"port":[0-9]*' "$dir/$name.log" | grep -o '"port":[0-9]*' |
      cut -d: -f2 || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2> /dev/null || { cat "$dir/$name.log" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "$name did not start" >&2; return 1; }
  printf -v "${name}_server" '%s' "127.0.0.1:$port"
  printf -v "${name}_pid" '%s' "$pid"
}
