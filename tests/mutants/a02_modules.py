"""Wrong and alternative Embedding / Flatten / Sequential / set_training / MLP for 02_modules."""
from mutants import Mutant

A = "02_modules"


def m(name, why, fails=None, **kw):
    return Mutant(name, A, why, fails or {}, **kw)


MUTANTS = [
    m("embedding_no_params", "an incomplete parameters(): the table is left out",
      {"test_embedding": "must be [weight]", "test_model_params": "missing from parameters()"},
      patches={"Embedding": [("return [self.weight]", "return []")]}),
    m("flatten_transposed", "flattens channel-major (transpose before reshape)",
      {"test_flatten_values": "interleaves"},
      patches={"Flatten": [("x.view(x.shape[0], -1)", "x.transpose(1, 2).reshape(x.shape[0], -1)")]}),
    m("flatten_squeezes", "squeezes every size-1 dim, so a batch of one loses its batch dim",
      # (the model survives by luck: eval-mode BatchNorm1d broadcasts the row back to (1, 200))
      {"test_flatten_shapes": "input has shape ("},
      patches={"Flatten": [("x.view(x.shape[0], -1)", "x.view(x.shape[0], -1).squeeze()")]}),
    m("sequential_reversed", "calls the layers last to first",
      {"test_sequential_forward": "last-to-first",
       "test_model_logits": "raised",
       "test_model_eval_mode": "raised"},
      patches={"Sequential": [("for layer in self.layers:", "for layer in reversed(self.layers):")]}),
    m("sequential_first_layer_params", "an incomplete parameters(): only the first layer's",
      {"test_sequential_parameters": "tensors its layers hold",
       "test_model_params": "missing from parameters()"},
      patches={"Sequential": [("return [p for layer in self.layers for p in layer.parameters()]",
                               "return self.layers[0].parameters()")]}),
    m("sequential_nested_params", "parameters() returns one list per layer",
      {"test_sequential_parameters": "list of lists",
       "test_model_params": "raised AttributeError",  # build_model's requires_grad loop trips first
       "test_model_logits": "raised AttributeError",
       "test_model_eval_mode": "raised AttributeError"},
      patches={"Sequential": [("return [p for layer in self.layers for p in layer.parameters()]",
                               "return [layer.parameters() for layer in self.layers]")]}),
    m("set_training_on_model", "sets the flag on the model instead of its layers",
      {"test_set_training": "layers' training flags",
       "test_model_eval_mode": "non-finite logits"},
      cells={"set_training": "def set_training(model, training):\n    model.training = training\n"}),
    m("mlp_bias_before_batchnorm", "the Linear before BatchNorm1d keeps its bias",
      {"test_model_params": "bias=False"},
      patches={"build_model": [("Linear(n_embd * block_size, n_hidden, bias=False)",
                                "Linear(n_embd * block_size, n_hidden)")]}),
    m("mlp_wrong_fan_in", "the first Linear takes one character's embedding, not the whole flattened context",
      {"test_model_params": "other shapes than the lecture's",
       "test_model_logits": "at cell 'Sequential', line",
       "test_model_eval_mode": "the same error as in test_model_logits"},
      patches={"build_model": [("Linear(n_embd * block_size, n_hidden, bias=False)",
                                "Linear(n_embd, n_hidden, bias=False)")]}),
    # ---- correct, written differently: full marks
    m("ok_flatten_reshape", "Flatten via reshape with the sizes spelled out",
      cells={"Flatten": '''
class Flatten:
    def __call__(self, x):
        B, T, C = x.shape
        return x.reshape(B, T * C)

    def parameters(self):
        return []
'''}),
    m("ok_alternatives", "F.embedding, torch.flatten, functools.reduce, itertools.chain, isinstance switch",
      cells={
          "Embedding": '''
class Embedding:
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = torch.randn(num_embeddings, embedding_dim)

    def __call__(self, ix):
        return F.embedding(ix, self.weight)

    def parameters(self):
        return [self.weight]
''',
          "Flatten": '''
class Flatten:
    def __call__(self, x):
        return torch.flatten(x, start_dim=1)

    def parameters(self):
        return []
''',
          "Sequential": '''
import functools, itertools

class Sequential:
    def __init__(self, layers):
        self.layers = list(layers)

    def __call__(self, x):
        return functools.reduce(lambda h, layer: layer(h), self.layers, x)

    def parameters(self):
        return list(itertools.chain.from_iterable(layer.parameters() for layer in self.layers))
''',
          "set_training": '''
def set_training(model, training):
    for layer in model.layers:
        if isinstance(layer, BatchNorm1d):
            layer.training = training
'''}),
]
