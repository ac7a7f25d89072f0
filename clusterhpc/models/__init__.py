"""Models by name: YOLOv3 detector, CNN classifier, catalogue MLP, Janossy set networks."""
