"""PubSub module (publish and subscribe triggers) for the iii engine"""
