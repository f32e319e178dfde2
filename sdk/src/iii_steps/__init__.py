"""SDK for steps: write Python handlers and run them on an iii engine"""
