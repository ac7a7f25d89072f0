"""A trained detector run over sky cutouts -> a FITS cluster catalogue."""
