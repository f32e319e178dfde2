"""PubSub module for the iii engine: ``publish`` and ``subscribe`` triggers, fanned out in
process (LocalAdapter) or across engines through Redis channels (RedisAdapter)."""
