"""Clients of the SDSS SkyServer services: a polite retrying HTTP session and ImgCutout JPEGs."""
