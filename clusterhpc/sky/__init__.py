"""Sky geometry: unit vectors and separations, sky<->pixel projections, HEALPix footprints."""
