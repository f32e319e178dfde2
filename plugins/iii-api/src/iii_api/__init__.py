"""REST API (HTTP triggers on :3111) and HTTP-invoked functions for the iii engine"""
