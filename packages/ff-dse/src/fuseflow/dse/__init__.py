"""fuseflow.dse"""
