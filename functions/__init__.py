"""The bundle's functions: one folder each (core.py logic, azure.py blueprint, aws.py Lambda handler)."""
