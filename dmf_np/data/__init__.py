"""Data sets: generated multimodal data here; MNIST halves and Wiki in their own modules."""
