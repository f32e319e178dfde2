"""Queue module (retries, FIFO, dead letters) for the iii engine"""
