# Sourced by bench/compare.sh and bench/profile.sh: one fresh single node.
# Needs $tmp (with the nimbus binary at $tmp/nimbus). port prints a free
# loopback port; serve starts a node on $tmp/data (wiped first) and waits
# until it is ready, setting pid, g (gRPC port), h (HTTP port) and addr
# (127.0.0.1:$g); it returns 1 when the node exits first.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve() {
  local r
  g=$(port) h=$(port) r=$(port)
  rm -rf "$tmp/data"
  "$tmp/nimbus" serve --data-dir "$tmp/data" --grpc-addr "127.0.0.1:$g" --http-addr "127.0.0.1:$h" \
    --peer-addr "127.0.0.1:$r" 2>>"$tmp/serve.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$h/readyz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "nimbus serve exited; see $tmp/serve.log" >&2; tail -5 "$tmp/serve.log" >&2; return 1; }
    sleep 0.1
  done
  addr=127.0.0.1:$g
}
