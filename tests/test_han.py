"""Tests of HAN, the Hierarchical Attention Network (Yang et al., NAACL 2016), and of the text
classification family (sentence splitting, tokenizer, loss, the built-in text-classification
pipeline) on tiny configs."""

import logging

import pytest
import torch
from documents_utils import BREAK, END_IDS, PAD, PERIOD, random_documents, tiny_text_classification_config
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import HanConfig, HanForSequenceClassification, HanModel
from hf_mmattn.tasks.text_classification import build_document_tokenizer, sentence_end_token_ids, split_into_sentences


def make_han(seed: int = 0, **overrides) -> HanForSequenceClassification:
    torch.manual_seed(seed)
    return HanForSequenceClassification(tiny_text_classification_config(HanConfig, **overrides)).eval()


# --- sentences -------------------------------------------------------------------------------

def test_split_into_sentences_by_hand():
    # "5 6 . 7 . ¶ 8" | "9 ." (padded)
    input_ids = torch.tensor([[5, 6, PERIOD, 7, PERIOD, BREAK, 8], [9, PERIOD, PAD, PAD, PAD, PAD, PAD]])
    attention_mask = (input_ids != PAD).long()
    sentences = split_into_sentences(input_ids, attention_mask, END_IDS, PAD)
    assert sentences.input_ids.tolist() == [
        [[5, 6, PERIOD], [7, PERIOD, BREAK], [8, PAD, PAD]],
        [[9, PERIOD, PAD], [PAD, PAD, PAD], [PAD, PAD, PAD]],
    ]
    assert sentences.word_mask.tolist() == [[[1, 1, 1], [1, 1, 1], [1, 0, 0]], [[1, 1, 0], [0, 0, 0], [0, 0, 0]]]
    assert sentences.sentence_mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_split_into_sentences_truncates_with_a_warning(caplog):
    input_ids = torch.tensor([[5, 6, 7, 8, PERIOD, 5, PERIOD, 6, PERIOD]])
    with caplog.at_level(logging.WARNING):
        sentences = split_into_sentences(input_ids, torch.ones_like(input_ids), END_IDS, PAD, max_sentences=2, max_sentence_length=3)
    assert sentences.input_ids.tolist() == [[[5, 6, 7], [5, PERIOD, PAD]]]
    assert "max_sentences=2" in caplog.text and "max_sentence_length=3" in caplog.text


def test_the_tokenizer_keeps_sentence_ends_and_line_breaks():
    tokenizer = build_document_tokenizer(["Great food. Bad service!\nOK?!"])
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("Great food. Bad service!\n\n OK?!")["input_ids"])
    assert tokens == ["great", "food", ".", "bad", "service", "!", "¶", "ok", "?!"]
    ends = {tokenizer.convert_ids_to_tokens(i) for i in sentence_end_token_ids(tokenizer)}
    assert ends == {".", "!", "?", "?!", "¶"}
    assert set(tokenizer("a b")) == {"input_ids", "attention_mask"}


# --- the paper's equations ----------------------------------------------------------------------

def attention_by_hand(attention, annotations):
    """α = softmax(u_wᵀ tanh(W h + b)) and Σ α h, each sequence alone over its real positions."""
    u = torch.tanh(annotations @ attention.key_projection.weight.T + attention.key_projection.bias)
    alpha = torch.softmax(u @ attention.score.weight[0], dim=0)
    return alpha, (alpha[:, None] * annotations).sum(0)


def bigru_by_hand(gru, inputs):
    outputs, _ = gru(inputs[None])
    return outputs[0]


def test_both_attention_levels_match_a_hand_computation():
    model = make_han().double()
    inputs = random_documents(model.config, batch=3, seed=1)
    with torch.no_grad():
        output = model(**inputs, output_attentions=True)
        word_attention, sentence_attention = output.attentions
        encoder = model.model
        for row in range(3):
            ids = inputs["input_ids"][row][inputs["attention_mask"][row].bool()].tolist()
            sentences, current = [], []
            for token in ids:  # a sentence ends after its last end token
                if current and current[-1] in END_IDS and token not in END_IDS:
                    sentences.append(current)
                    current = []
                current.append(token)
            sentences.append(current)
            vectors = []
            for index, sentence in enumerate(sentences):
                annotations = bigru_by_hand(encoder.word_encoder.lstm, encoder.word_encoder.embedding(torch.tensor(sentence)))
                alpha, vector = attention_by_hand(encoder.word_attention, annotations)
                torch.testing.assert_close(word_attention[row, index, : len(sentence)], alpha)
                assert (word_attention[row, index, len(sentence):] == 0).all()
                vectors.append(vector)
            annotations = bigru_by_hand(encoder.sentence_encoder, torch.stack(vectors))
            alpha, document = attention_by_hand(encoder.sentence_attention, annotations)
            torch.testing.assert_close(sentence_attention[row, : len(sentences)], alpha)
            assert (sentence_attention[row, len(sentences):] == 0).all()
            logits = model.classifier(document)
            torch.testing.assert_close(output.logits[row], logits)


@pytest.mark.parametrize("document_encoder", ["hierarchical", "flat", "mean"])
def test_padding_changes_nothing(document_encoder):
    """Padding tokens after a document, and shorter documents beside longer ones in a batch, leave
    every output as the document alone gives it."""
    model = make_han(document_encoder=document_encoder)
    inputs = random_documents(model.config, batch=3, seed=2)
    padded = {k: torch.cat([v, torch.zeros(3, 5, dtype=v.dtype)], dim=1) for k, v in inputs.items()}
    with torch.no_grad():
        batch = model(**inputs, output_attentions=True)
        more_padding = model(**padded, output_attentions=True)
        for row in range(3):
            length = int(inputs["attention_mask"][row].sum())
            alone = model(**{k: v[row: row + 1, :length] for k, v in inputs.items()})
            torch.testing.assert_close(alone.logits[0], batch.logits[row], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(more_padding.logits, batch.logits, rtol=1e-5, atol=1e-6)


def test_flat_and_mean_baselines_by_hand():
    flat = make_han(document_encoder="flat").double()
    mean = make_han(document_encoder="mean").double()
    inputs = random_documents(flat.config, batch=2, seed=3)
    with torch.no_grad():
        flat_output = flat(**inputs, output_attentions=True)
        mean_output = mean(**inputs)
        for row in range(2):
            ids = inputs["input_ids"][row][inputs["attention_mask"][row].bool()]
            annotations = bigru_by_hand(flat.model.word_encoder.lstm, flat.model.word_encoder.embedding(ids))
            alpha, document = attention_by_hand(flat.model.word_attention, annotations)
            torch.testing.assert_close(flat_output.attentions[0][row, : len(ids)], alpha)
            torch.testing.assert_close(flat_output.logits[row], flat.classifier(document))
            torch.testing.assert_close(mean_output.logits[row], mean.classifier(mean.model.word_encoder.embedding(ids).mean(0)))


def test_the_model_learns_which_sentence_decides():
    """Documents of 3 sentences: "6 w ." decides the label (w = 4 or 5); the others are "7 w' ."
    with a random label word w' or "8 9 .": the label words appear in both classes, only the
    sentence that holds them decides. The model learns it, and puts its sentence attention there."""
    generator = torch.Generator().manual_seed(0)
    docs, labels, deciding = [], [], []
    for index in range(24):
        label = index % 2
        position = (index // 2) % 3
        sentences = [[7, 4 + int(torch.randint(0, 2, (1,), generator=generator)), PERIOD], [8, 9, PERIOD]]
        sentences.insert(position, [6, 4 + label, PERIOD])
        docs.append([token for sentence in sentences for token in sentence])
        labels.append(label)
        deciding.append(position)
    input_ids, labels, deciding = torch.tensor(docs), torch.tensor(labels), torch.tensor(deciding)
    model = make_han(seed=4, vocab_size=10).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(100):
        loss = model(input_ids=input_ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        output = model(input_ids=input_ids, output_attentions=True)
    assert torch.equal(output.logits.argmax(-1), labels)
    on_deciding = output.attentions[1][torch.arange(len(docs)), deciding]
    assert on_deciding.mean() > 0.6, output.attentions[1]


# --- transformers integration -----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    documents = ["The room was small. Overall I would rate it excellent.", "Great view!\nOverall I would rate it poor."]
    tokenizer = build_document_tokenizer(documents)
    torch.manual_seed(0)
    config = HanConfig.from_preset(
        "tiny", vocab_size=len(tokenizer), sentence_end_token_ids=sentence_end_token_ids(tokenizer), num_labels=2,
        id2label={0: "poor", 1: "excellent"}, label2id={"poor": 0, "excellent": 1},
    )
    model = HanForSequenceClassification(config)
    encoded = tokenizer(documents, padding=True, return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(30):
        loss = model(**encoded, labels=torch.tensor([1, 0])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("han")
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, documents


def test_auto_classes_round_trip(saved_folder):
    folder, _ = saved_folder
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert type(model) is HanForSequenceClassification and type(AutoModel.from_pretrained(folder)) is HanModel
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.convert_ids_to_tokens(tokenizer("Great view!\nOk")["input_ids"]) == ["great", "view", "!", "¶", "[UNK]"]


def test_the_built_in_text_classification_pipeline_serves_a_saved_folder(saved_folder):
    folder, documents = saved_folder
    classifier = pipeline("text-classification", model=str(folder))
    assert type(classifier.model) is HanForSequenceClassification
    assert [classifier(d)[0]["label"] for d in documents] == ["excellent", "poor"]
    everything = classifier(documents[0], top_k=None)
    assert [entry["label"] for entry in everything] == ["excellent", "poor"] and abs(sum(e["score"] for e in everything) - 1) < 1e-6
    model, tokenizer = classifier.model, classifier.tokenizer
    with torch.no_grad():
        probabilities = model(**tokenizer(documents[1], return_tensors="pt")).logits.softmax(-1)[0]
    assert classifier(documents[1], top_k=1)[0]["score"] == pytest.approx(probabilities.max().item(), abs=1e-6)


# --- bad inputs ---------------------------------------------------------------------------------

def test_bad_inputs_get_clear_errors(caplog):
    model = make_han()
    inputs = random_documents(model.config, batch=2)
    with pytest.raises(ValueError, match="a document has no tokens"):
        model(input_ids=torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(input_ids=inputs["input_ids"] + 100)
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"].flip(1))
    with pytest.raises(ValueError, match="class indices"):
        model(**inputs, labels=torch.tensor([0, 7]))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        model(**inputs, token_type_ids=torch.zeros_like(inputs["input_ids"]))
    # One huge sentence (no end token), and a document over the sentence limit: cut with a warning.
    limited = make_han(max_sentences=2, max_sentence_length=6)
    huge = torch.randint(4, 12, (1, 500))
    with caplog.at_level(logging.WARNING), torch.no_grad():
        cut = limited(input_ids=huge, output_attentions=True)
        many = limited(input_ids=torch.tensor([[4, PERIOD] * 5]), output_attentions=True)
    assert cut.attentions[0].shape == (1, 1, 6) and many.attentions[1].shape == (1, 2)
    assert "max_sentence_length=6" in caplog.text and "max_sentences=2" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(cut.logits, limited(input_ids=huge[:, :6]).logits)


@pytest.mark.parametrize(("field", "value"), [("document_encoder", "cnn"), ("max_sentences", 0), ("word_hidden_size", 0)])
def test_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        HanConfig(**{field: value})


def test_word_vectors_load_into_the_embedding(tmp_path):
    from hf_mmattn.processing.word_vectors import load_word_vectors

    embedding = torch.nn.Embedding(5, 3)
    before = embedding.weight.detach().clone()
    vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "poor": 3, "food": 4}
    word2vec = tmp_path / "vectors.txt"
    word2vec.write_text("3 3\nGood 1 2 3\npoor -1 0 0.5\nunseen 9 9 9\ngood 7 7 7\n", encoding="utf-8")
    assert load_word_vectors(embedding, vocab, word2vec) == 2
    assert embedding.weight[2].tolist() == [1, 2, 3] and embedding.weight[3].tolist() == [-1, 0, 0.5]  # the first "good" wins
    torch.testing.assert_close(embedding.weight[[0, 1, 4]], before[[0, 1, 4]])
    glove = tmp_path / "glove.txt"
    glove.write_text("food 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: 2 values for 'food', the embedding has 3"):
        load_word_vectors(embedding, vocab, glove)
    with pytest.raises(FileNotFoundError):
        load_word_vectors(embedding, vocab, tmp_path / "missing.txt")
