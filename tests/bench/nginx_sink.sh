# shellcheck shell=bash
# Sourced by tests/bench/run.sh: an unprivileged nginx on 127.0.0.1 over TLS that sinks
# uploads and answers the cloud calls with canned replies, so that client figures carry no
# server work beyond TLS and HTTP parsing (the emulator hashes every byte).
#
#   nginx_sink_start DIR   writes DIR/{ca.pem,leaf.pem,leaf.key,nginx.conf}, starts nginx,
#                          sets NGINX_URL (https://127.0.0.1:PORT), NGINX_CA, NGINX_PID,
#                          NGINX_LOG (the access log), NGINX_FILES (DIR/files, served under
#                          /dl/) and writes them to DIR/nginx.env
#   nginx_sink_stop        stops that nginx by its PID
#
# Routes (every request body is discarded: read to its end after the answer, never kept):
#   POST /auth                          UCloud device auth: a JWT-shaped token, exp in 2100
#   POST /topic/...                     UCloud publish: RetCode 0 and a MessageID
#   POST /api/v1/url                    UCloud file grant: URL of /ufile/<name>, an Authorization
#   PUT  /ufile/...                     UFile PUT: 200 {}
#   PUT  /put/...                       generic presigned PUT: 200, an ETag
#   POST /form/                         multipart POST (PostObject): 204, an ETag
#   POST /api/oauth2/v1/token           AGC token
#   GET  /api/publish/v2/upload-url/for-obs
#                                       AGC upload URL: PUT /obs/... with the request's own
#                                       sha256 as x-amz-content-sha256
#   PUT  /obs/...                       OBS PUT: 200, an ETag
#   GET  /dl/<name>                     the file DIR/files/<name> (nginx's static files: ETag,
#                                       Last-Modified, Range and If-Range), for the download
#                                       benchmark
# The access log (format `sink`) has one line per request, written once its body has been
# read to the end; $request_length there counts the head only (a discarded body is not
# counted), so the driver checks nginx's own read count (/proc/PID/io rchar) against the
# file size instead. master_process off: one process, whose PID is NGINX_PID.

NGINX_PID=

# nginx_sink_certs DIR: a P-256 CA and a leaf for 127.0.0.1 and localhost (IP and DNS SANs),
# the same shape as the emulator's.
nginx_sink_certs() {
  local d=$1
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=iothttp bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$d/leaf.key" -out "$d/leaf.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "authorityKeyIdentifier=keyid" >"$d/leaf.ext"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
}

nginx_sink_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nginx_sink_start() {
  local d=$1 nginx port token as_nobody=()
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx" ] || { echo "nginx is not installed (scripts/bootstrap.sh bench-nginx)" >&2; return 1; }
  mkdir -p "$d/body" "$d/tmp" "$d/files"
  nginx_sink_certs "$d"
  port=$(nginx_sink_free_port)
  b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
  # JWT-shaped: iothttp reads `exp` (seconds) for the renewal point; 4102444800 is 2100-01-01.
  token="$(printf '{"alg":"HS256","typ":"JWT"}' | b64).$(printf '{"exp":4102444800}' | b64).c2luaw"
  cat >"$d/nginx.conf" <<EOF
# Written by tests/bench/nginx_sink.sh for one benchmark run.
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log error;
events { worker_connections 64; }
http {
  log_format sink '\$msec \$connection \$connection_requests \$request_method \$uri \$status '
                  '\$request_length \$bytes_sent \$request_time \$ssl_protocol \$ssl_cipher '
                  '"\$http_user_agent"';
  access_log $d/access.log sink;
  client_body_temp_path $d/body;
  proxy_temp_path $d/tmp;
  fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp;
  scgi_temp_path $d/tmp;
  client_max_body_size 0;
  client_body_buffer_size 16k;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  # Every body is discarded: nginx answers once it has the headers, then reads the body to
  # its end (the access log line is written after that), within lingering_time.
  lingering_time 3600s;
  lingering_timeout 60s;
  server_tokens off;
  default_type application/json;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $d/leaf.pem;
    ssl_certificate_key $d/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    location = /auth {
      return 200 '{"RetCode":0,"Message":"Success","Token":"$token"}';
    }
    location /topic/ {
      return 200 '{"RetCode":0,"Message":"Success","MessageID":"349022219378098176"}';
    }
    location = /api/v1/url {
      return 200 '{"RetCode":0,"URL":"https://127.0.0.1:$port/ufile/bench.bin","Authorization":"Ucloud $token"}';
    }
    location /ufile/ {
      return 200 '{}';
    }
    location /put/ {
      add_header ETag '"sink"';
      return 200 '';
    }
    location /form/ {
      add_header ETag '"sink"';
      return 204;
    }
    location = /api/oauth2/v1/token {
      return 200 '{"access_token":"benchAgcToken","expires_in":172800}';
    }
    location = /api/publish/v2/upload-url/for-obs {
      return 200 '{"ret":{"code":0,"msg":"success"},"urlInfo":{"objectId":"bench-object","url":"https://127.0.0.1:$port/obs/bench.app","method":"PUT","headers":{"Authorization":"AWS4-HMAC-SHA256 Credential=BENCH/20260101/cn-north-4/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=00","x-amz-content-sha256":"\$arg_sha256","x-amz-date":"20260101T000000Z","Host":"127.0.0.1:$port","Content-Type":"application/octet-stream"}}}';
    }
    location /obs/ {
      add_header ETag '"sink"';
      return 200 '';
    }
    location /dl/ {
      alias $d/files/;
      default_type application/octet-stream;
    }
    location / {
      return 404 '{"RetCode":404,"Message":"no such sink"}';
    }
  }
}
EOF
  # Unprivileged: as root, nginx itself runs as nobody (its files handed over to it).
  if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chown -R 65534:65534 "$d"
    chmod 711 "$(dirname "$d")"
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  fi
  "${as_nobody[@]}" "$nginx" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
  NGINX_PID=$!
  local i
  for i in $(seq 1 100); do
    if curl -s -o /dev/null --cacert "$d/ca.pem" "https://127.0.0.1:$port/"; then break; fi
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$d/error.log" >&2; return 1; }
    [ "$i" = 100 ] && { echo "nginx did not come up on port $port" >&2; return 1; }
    sleep 0.05
  done
  NGINX_URL="https://127.0.0.1:$port"
  NGINX_CA="$d/ca.pem"
  NGINX_LOG="$d/access.log"
  printf 'NGINX_URL=%s\nNGINX_CA=%s\nNGINX_PID=%s\nNGINX_LOG=%s\nNGINX_FILES=%s\n' \
    "$NGINX_URL" "$NGINX_CA" "$NGINX_PID" "$NGINX_LOG" "$d/files" >"$d/nginx.env"
}

nginx_sink_stop() {
  if [ -n "$NGINX_PID" ]; then
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
  fi
}
