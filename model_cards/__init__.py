"""Model card templates, one per architecture (installed as hf_mmattn.model_cards)."""
