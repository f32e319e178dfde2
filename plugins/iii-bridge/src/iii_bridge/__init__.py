"""Bridge client module and bridge adapters: iii engines that talk to engines"""
