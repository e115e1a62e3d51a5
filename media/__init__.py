"""Media helpers that the frontend and the worker both need: data URLs, and images decoded
under a pixel cap. A leaf: it imports Pillow (and, in its video module, PyAV), nothing of
framecast's, so the frontend may import it without the worker's dependencies."""
