"""Preprocessing stages (MPI-parallel): bounding boxes, empty fields, splits, overlaps."""
