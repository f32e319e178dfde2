"""Stream module (client WebSocket on :3112) for the iii engine"""
