"""Words about the tabletop: the vocabulary people use for its objects, colours and places
(`vocabulary.yaml`), which the training grammar samples from and the planner's canonical
rewrite maps back to the world's own names."""
