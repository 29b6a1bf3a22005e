"""fuseflow.ir"""
