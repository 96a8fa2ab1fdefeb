"""Configuration of Show and Tell (Vinyals, Toshev, Bengio, Erhan, CVPR 2015)."""

from __future__ import annotations

from ...tasks.captioning.configuration import MMAttnCaptioningConfig


class ShowTellConfig(MMAttnCaptioningConfig):
    r"""
    Show and Tell (NIC): the image embedding x_{-1} = W_I CNN(I) is the LSTM's first input, then
    each word's embedding x_t = W_e S_t; p_{t+1} = softmax(W_o m_t) (section 3.1, eq. 10-12).
    The paper uses 512 for the embedding and the LSTM.

    Args:
        embedding_size: size of the word and image embeddings (they share the LSTM's input).
        hidden_size: LSTM memory size.
        dropout: dropout on the word/image embeddings and on the LSTM output (the paper's
            regularisation, section 4.3.1).
        shared captioning fields: see [`~hf_mmattn.tasks.captioning.configuration.MMAttnCaptioningConfig`].
    """

    model_type = "mmattn_show_tell"

    embedding_size: int = 512
    hidden_size: int = 512
    dropout: float = 0.5
