"""Exec module (runs and hot-reloads the app's processes) for the iii engine"""
