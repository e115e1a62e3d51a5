"""The video worker: backends, encoding, storage, and its place in the Dynamo runtime."""
