"""The HTTP frontend: OpenAI-style routes over workers found through the Dynamo runtime."""
