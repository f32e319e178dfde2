#!/usr/bin/env bash
# Make sure Redis (127.0.0.1:6379) and RabbitMQ (127.0.0.1:5672, guest/guest) run; install them
# from Debian's packages when they are missing (fresh machine), then start them.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
wait_port() {
  for _ in $(seq 1 120); do listening "$1" && return 0; sleep 0.5; done
  echo "error: nothing listens on 127.0.0.1:$1 after 60 s" >&2; return 1
}

if ! listening 6379; then
  command -v redis-server >/dev/null || install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
fi

if ! listening 5672; then
  command -v rabbitmq-server >/dev/null || install rabbitmq-server
  as_root rabbitmq-server -detached
  wait_port 5672
fi
echo "services: redis 127.0.0.1:6379 and rabbitmq 127.0.0.1:5672 are up"
