"""A small model2vec model made by the tests (the real package's format, saved by the package itself): a
word-level vocabulary whose embeddings put words of one feeling near each other."""

import numpy as np

FEELINGS = {"sure": ["yes", "definitely", "certainly", "sure"], "unsure": ["maybe", "perhaps", "um", "guess"]}


def make_model2vec_folder(folder, width=16, seed=0):
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    rng = np.random.default_rng(seed)
    vocabulary = ["[UNK]", "[PAD]", "i", "am", "the", "it", *(word for group in FEELINGS.values() for word in group)]
    directions = {name: rng.normal(size=width) for name in FEELINGS}
    vectors = rng.normal(0, 0.3, (len(vocabulary), width))
    for name, group in FEELINGS.items():
        for word in group:
            vectors[vocabulary.index(word)] += directions[name]
    tokenizer = Tokenizer(models.WordLevel({word: k for k, word in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    StaticModel(vectors.astype(np.float32), tokenizer, normalize=True).save_pretrained(str(folder))
    return folder


def make_sentence_transformers_folder(folder, width=16, seed=0):
    """A one-layer BERT with mean pooling, saved as a sentence-transformers model folder by the package."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    bert = folder.parent / f"{folder.name}-bert"
    bert.mkdir(parents=True)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", *(w for g in FEELINGS.values() for w in g)]
    (bert / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=width,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * width,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(bert))
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt")).save_pretrained(str(bert))
    transformer = models.Transformer(str(bert))
    pooling = models.Pooling(width, pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    return folder
