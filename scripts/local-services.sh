#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ answer, and that RabbitMQ has the
# plugins the system needs. Starts them only where they are installed on this
# machine; elsewhere point BOOKING_DATABASE_URL / BOOKING_AMQP_URL at running ones.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if ! answers 127.0.0.1 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  for _ in $(seq 1 60); do answers 127.0.0.1 5432 && break; sleep 1; done
fi

if ! answers 127.0.0.1 5672; then
  if command -v rabbitmq-server >/dev/null; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 120); do answers 127.0.0.1 5672 && break; sleep 1; done
fi

if command -v rabbitmq-plugins >/dev/null; then
  rabbitmq-plugins enable rabbitmq_sharding rabbitmq_consistent_hash_exchange rabbitmq_management >/dev/null
  for _ in $(seq 1 60); do answers 127.0.0.1 15672 && break; sleep 1; done
fi

answers 127.0.0.1 5432 || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
answers 127.0.0.1 5672 || { echo "RabbitMQ does not answer on 127.0.0.1:5672" >&2; exit 1; }
