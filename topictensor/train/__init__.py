"""The embedding trainer: StarSpace's margin ranking objective, compiled with numba."""
