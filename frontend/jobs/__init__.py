"""Video jobs: durable records in a shared store, a queue per model, dispatch to workers."""
