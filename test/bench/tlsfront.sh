#!/usr/bin/env bash
# tlsfront.sh: the TLS front door side by side. wrk speaks HTTPS to nginx's
# ssl listener and to esgate's (listen_ssl_certificate); each forwards to
# the bench harness's sink over TLS with an API key, as compare.sh's
# targets do. Targets run interleaved, round after round, each with a
# fresh sink; the table shows medians.
#
#   test/bench/tlsfront.sh <harness dir> <esgate binary>
#   ROUNDS=3 DURATION=8 WARMUP=3 BODY=tiny CONNS=8 (defaults)
#
# The harness dir is compare.sh's (its bin/sink, bodies/ and wrk/bulk.lua;
# run compare.sh once to build them). Everything is on 127.0.0.1 and every
# load step is bounded in time.
set -euo pipefail

HARNESS=${1:?usage: tlsfront.sh <harness dir> <esgate binary>}
ESGATE=${2:?usage: tlsfront.sh <harness dir> <esgate binary>}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} WARMUP=${WARMUP:-3}
BODY=${BODY:-tiny} CONNS=${CONNS:-8}
SINK_PORT=19200 STATS_PORT=19201 PROXY_PORT=18443
OUT=$(mktemp -d /tmp/esgate-tlsfront.XXXXXX)
BODYFILE=$HARNESS/bodies/$BODY.ndjson
HZ=$(getconf CLK_TCK)
KEY=bench-id:bench-api-key
AUTH="ApiKey $(printf %s $KEY | base64)"
for f in "$HARNESS/bin/sink" "$BODYFILE" "$HARNESS/wrk/bulk.lua" "$ESGATE"; do
  [[ -e $f ]] || { echo "tlsfront.sh: missing $f (run the harness's compare.sh once)" >&2; exit 1; }
done
for c in wrk nginx openssl curl; do
  command -v $c >/dev/null || { echo "tlsfront.sh: missing $c" >&2; exit 1; }
done
printf %s $KEY >"$OUT/key"
# The front door's certificate (clients do not verify it: wrk cannot).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$OUT/front.key" -out "$OUT/front.crt" 2>/dev/null

SINK_PID="" PROXY_PID=""
stop() { # PID: SIGTERM its process group, SIGKILL after 5 s
  [[ -n $1 ]] || return 0
  kill -TERM -- "-$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
trap 'stop "$PROXY_PID"; stop "$SINK_PID"' EXIT
cpu_ticks() { # PGID: user+system ticks of the process group
  local s=0 p
  for p in $(pgrep -g "$1"); do
    s=$((s + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
  done
  echo $s
}

run_target() { # NAME RUNDIR: starts the proxy (PROXY_PID)
  local rd=$2
  case $1 in
  nginx)
    mkdir -p "$rd/tmp"
    cat >"$rd/nginx.conf" <<EOF
worker_processes auto;
pid $rd/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $rd/tmp/body;
  proxy_temp_path $rd/tmp/proxy;
  fastcgi_temp_path $rd/tmp/fastcgi;
  uwsgi_temp_path $rd/tmp/uwsgi;
  scgi_temp_path $rd/tmp/scgi;
  upstream es {
    server 127.0.0.1:$SINK_PORT;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT ssl;
    ssl_certificate $OUT/front.crt;
    ssl_certificate_key $OUT/front.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 0;
    client_body_buffer_size 128k;
    location / {
      proxy_pass https://es;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "$AUTH";
      proxy_request_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $OUT/ca.crt;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
    }
  }
}
EOF
    setsid nginx -p "$rd" -c "$rd/nginx.conf" -e stderr -g "daemon off;" >"$rd/proxy.log" 2>&1 </dev/null &
    ;;
  esgate)
    setsid "$ESGATE" serve --listen 127.0.0.1:$PROXY_PORT --listen-ssl-certificate "$OUT/front.crt" \
      --listen-ssl-key "$OUT/front.key" --hosts https://127.0.0.1:$SINK_PORT \
      --ssl-certificate-authorities "$OUT/ca.crt" --api-key-file "$OUT/key" \
      --log-level warn --access-log off --status-listen off >"$rd/proxy.log" 2>&1 </dev/null &
    ;;
  esac
  PROXY_PID=$!
}

printf 'round\ttarget\treq_s\tMB_s\tp99_ms\tcpu_s_per_GiB\tok\n' >"$OUT/runs.tsv"
for round in $(seq "$ROUNDS"); do
  for target in nginx esgate; do
    rd=$OUT/r$round-$target
    mkdir -p "$rd"
    setsid "$HARNESS/bin/sink" -listen 127.0.0.1:$SINK_PORT -stats 127.0.0.1:$STATS_PORT -auth "$AUTH" \
      -state "$OUT/pki" -ca-out "$OUT/ca.crt" >"$rd/sink.log" 2>&1 </dev/null &
    SINK_PID=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$STATS_PORT/stats >/dev/null 2>&1 && break; sleep 0.1; done
    run_target $target "$rd"
    for _ in $(seq 100); do curl -skf https://127.0.0.1:$PROXY_PORT/ >/dev/null 2>&1 && break; sleep 0.1; done
    curl -skf https://127.0.0.1:$PROXY_PORT/ >/dev/null || { echo "tlsfront.sh: $target did not answer, see $rd" >&2; exit 1; }
    BODY=$BODYFILE timeout $((WARMUP + 30)) wrk -t2 -c"$CONNS" -d"$WARMUP"s -s "$HARNESS/wrk/bulk.lua" \
      https://127.0.0.1:$PROXY_PORT/_bulk >/dev/null 2>&1
    t0=$(cpu_ticks "$PROXY_PID")
    BODY=$BODYFILE timeout $((DURATION + 30)) wrk -t2 -c"$CONNS" -d"$DURATION"s --timeout 10s --latency \
      -s "$HARNESS/wrk/bulk.lua" https://127.0.0.1:$PROXY_PORT/_bulk >"$rd/wrk.txt" 2>&1
    t1=$(cpu_ticks "$PROXY_PID")
    stop "$PROXY_PID"; PROXY_PID=""
    stop "$SINK_PID"; SINK_PID=""
    r=$(grep '^RESULT' "$rd/wrk.txt")
    get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$r"; }
    n=$(get requests) us=$(get duration_us) bytes=$(get body_bytes)
    errs=$(($(get connect_err) + $(get read_err) + $(get write_err) + $(get timeout_err) + $(get non2xx)))
    awk -v R="$round" -v T="$target" -v n="$n" -v us="$us" -v b="$bytes" -v p99="$(get lat_p99_us)" \
      -v ticks=$((t1 - t0)) -v hz="$HZ" -v errs="$errs" 'BEGIN {
        s = us / 1e6; gib = n * b / 2^30
        printf "%s\t%s\t%.0f\t%.1f\t%.2f\t%.2f\t%s\n", R, T, n / s, n * b / s / 1e6, p99 / 1000,
          (ticks / hz) / gib, (errs == 0 ? "ok" : "errors " errs) }' >>"$OUT/runs.tsv"
    tail -1 "$OUT/runs.tsv" >&2
  done
done

# Medians over rounds, and esgate against nginx.
echo "TLS front door, body $BODY ($(stat -c %s "$BODYFILE") bytes), wrk -t2 -c$CONNS -d${DURATION}s after ${WARMUP}s, $ROUNDS interleaved rounds, medians"
echo
echo "| target | req/s | MB/s | p99 ms | proxy CPU s/GiB | MB/s vs nginx | CPU vs nginx | checks |"
echo "|---|--:|--:|--:|--:|--:|--:|---|"
awk -F'\t' 'NR > 1 {
    k = $2; n[k]++; rs[k, n[k]] = $3; mb[k, n[k]] = $4; p[k, n[k]] = $5; c[k, n[k]] = $6
    if ($7 != "ok") bad[k]++
  }
  function med(a, k, m,   i, j, t, v) {
    for (i = 1; i <= m; i++) v[i] = a[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
  }
  END {
    split("nginx esgate", T, " ")
    for (i = 1; i <= 2; i++) { k = T[i]; M[k] = med(mb, k, n[k]); C[k] = med(c, k, n[k]) }
    for (i = 1; i <= 2; i++) {
      k = T[i]
      printf "| %s | %.0f | %.1f | %.2f | %.2f | %.2fx | %.2fx | %s |\n", k, med(rs, k, n[k]), M[k], med(p, k, n[k]), C[k],
        M[k] / M["nginx"], C[k] / C["nginx"], (bad[k] ? "errors in " bad[k] " runs" : "ok " n[k] "/" n[k])
    }
  }' "$OUT/runs.tsv"
echo
echo "per-run rows: $OUT/runs.tsv"
