"""Networks and their parts: the YOLOv3 detector (`yolo*`), anchors, synchronised batch norm
and the list of ops without a deterministic GPU kernel."""
