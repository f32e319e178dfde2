"""Cron module (second-precision schedules) for the iii engine"""
