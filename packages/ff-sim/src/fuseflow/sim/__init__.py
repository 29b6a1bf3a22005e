"""fuseflow.sim"""
