"""Mock SDSS-like survey with known truth: `clusterhpc simulate CONFIG` (see `stage.main`).

Writes into `data.root` the files of a real survey directory, so every later stage runs on
either: `catalog.fits` and `members.fits` (redMaPPer DR8 columns), `cutouts/<ID>.jpeg`,
`empty/<name>.jpeg`, `footprint.fits` (HEALPix), plus `truth.fits` (true z, lambda, R_lambda,
ln mass, member magnitudes and shapes), `cutouts.fits` (file, centre, scale, size, empty flag
of every image; FILE is relative to `data.root`), `config.yaml`, `images.json` (the render
recipe used for resuming), with `simulate.galaxies.write` the galaxies around every cluster in
the `prep query` layout (`galaxies/galaxies.fits`, `galaxies.py`) and, with
`simulate.gallery: N`, annotated PNGs in `gallery/`.

Physics (parameters under `simulate.*` in the config; tables in `tables.py`):

- cosmology: flat LCDM, H0 = 70, Om0 = 0.3 (astropy), for angular sizes and volumes;
- footprint: SDSS DR8 (the `randomsdss` mangle window, ~8,080 deg^2) rasterised to HEALPix,
  or an RA/Dec rectangle (`footprint.py`, `mangle.py`);
- clusters: z in 0.08-0.6 following comoving volume, lambda >= 20 with dN/dlambda ~ lambda^-3,
  ~2.6 deg^-2, 12.5 % placed as companions of a parent so that ~30 % of 13.5' cutouts hold
  another cluster and ~5 % two or more; R_lambda = 1.0 h^-1 Mpc (lambda/100)^0.2; true mass
  ln M = ln(10^14.344 h^-1 Msun (lambda/40)^1.33) + N(0, 0.25) (Simet et al. 2017)
  (`clusters.py`);
- members: lambda/<P> galaxies above 0.2 L* (Schechter, m*(z) table), a BCG 1.5 mag brighter
  than m* at the centre, projected NFW (c = 4) truncated at R_lambda, red-sequence colours with
  0.05 mag scatter, P and P_FREE with sum(P * P_FREE) = LAMBDA, photo-z 0.02 (1 + z), a
  spectroscopic redshift for 80 % of the BCGs brighter than i = 19, so 75.5 % of the clusters
  have Z_SPEC > 0 (`members.py`);
- field: galaxies (4,000 deg^-2 to r = 21, slope 0.45) and stars (1,000 deg^-2, stellar locus)
  per HEALPix cell, identical in overlapping cutouts (`field.py`);
- images: gri on a TAN WCS, Sérsic profiles (de Vaucouleurs members, exponential field) as
  Gaussian mixtures convolved with a 1.4" PSF, sky noise for 5-sigma depths g 22.2, r 22.2,
  i 21.3, `make_lupton_rgb` JPEGs (`render.py`, `scene.py`).

Everything is drawn from streams keyed by (seed, purpose, item) (`streams.py`), so the files
are byte-identical for a seed whatever the number of MPI ranks; quantities added later (masses,
the field galaxies' u, z and zred) have streams of their own, so earlier files stay the same.
"""
