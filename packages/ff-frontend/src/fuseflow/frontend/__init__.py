"""fuseflow.frontend"""
