"""Configuration of Show and Tell (Vinyals, Toshev, Bengio, Erhan, CVPR 2015)."""

from __future__ import annotations

from ...tasks.captioning.configuration import MMAttnCaptioningConfig

# The tests' "tiny" sizes; "scratch-cnn": the examples' settings for the 64x64 shapes-captions
# scenes with the scratch CNN (three conv-BN-ReLU-pool blocks), used by run_captioning.py with
# --image_encoder scratch_cnn (see the Show, Attend and Tell presets for why these sizes).
SHOW_TELL_PRESETS: dict[str, dict] = {
    "tiny": dict(embedding_size=8, hidden_size=10, dropout=0.0),
    "scratch-cnn": dict(scratch_cnn_channels=[32, 64, 128], embedding_size=128, hidden_size=256, dropout=0.1),
}


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
    presets = SHOW_TELL_PRESETS
    display_name = "Show and Tell"

    embedding_size: int = 512
    hidden_size: int = 512
    dropout: float = 0.5
