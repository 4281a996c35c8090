-- A worker process announces itself under a random id made at process start.
INSERT INTO {schema}.workers (id, hostname, pid, queues, concurrency)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s)
