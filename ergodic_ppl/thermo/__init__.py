"""The thermodynamic-inference layer (THEORY.md A.2-A.5): Walsh descriptions, energies from data
with the extensive gap, reduced descriptions, the training potential and mean-field minima."""
