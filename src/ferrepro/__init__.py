"""ferrepro: reproduce facial-expression-recognition papers end to end."""

__version__ = "0.1.0"
