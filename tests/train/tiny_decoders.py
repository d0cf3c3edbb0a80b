"""The smallest decoder shape the tests build random models with (no such weights offline):
two heads sharing one key/value head, so grouped attention is exercised too."""

TINY_DECODER = dict(
    vocab_size=64,
    hidden_size=16,
    intermediate_size=32,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=8,
)
