"""Queue module for the iii engine: named and topic queues with retries, FIFO groups,
visibility timeouts and dead letters, over builtin (memory/file), Redis and RabbitMQ stores."""
