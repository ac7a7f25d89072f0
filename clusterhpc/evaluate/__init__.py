"""Matching, completeness/purity, mAP, binned and regression metrics, plots and the report."""
