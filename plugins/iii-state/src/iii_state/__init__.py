"""State module (key-value with memory, file and Redis adapters) for the iii engine"""
