"""Networks and their parts: the YOLOv3 detector (`yolo*`, anchors), the CNN cutout classifier
(`cnn*`, Grad-CAM), synchronised batch norm and the list of ops without a deterministic GPU
kernel; the set networks and MLPs on member-galaxy catalogues (`sets`, `set_layers`)."""
