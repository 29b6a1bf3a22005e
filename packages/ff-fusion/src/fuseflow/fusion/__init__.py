"""fuseflow.fusion"""
