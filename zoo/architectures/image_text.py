"""Image-text models whose causal-LM class builds the whole checkpoint: Adept's Fuyu (fuyu,
FuyuForCausalLM: a Persimmon decoder fed image patches through one linear projection, no image
encoder) and StepFun's GOT-OCR 2.0 (got_ocr2, GotOcr2ForConditionalGeneration: a Qwen2 decoder
beside SAM's ViT image encoder and a convolutional projector) and Microsoft's GIT (git,
GitForCausalLM: a BERT-style causal text decoder beside a CLIP ViT and a projection).
AutoModelForCausalLM builds the whole model for all three, so zoo counts the text decoder
and, by their closed forms, the rest (rest_params: the whole is the decoder's total plus
these). The wrapper's own tie_word_embeddings ties the head, whatever text_config says
(transformers 5.25 is the reference)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    activation,
    get,
    text_decoder_of,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.persimmon import read_persimmon
from zoo.architectures.qwen import read_qwen2
from zoo.architectures.towers import GIT_VISION, GOT_OCR2_VISION, git_vision, got_ocr2_vision

# FuyuConfig's text_config when it has none (and no text keys at the top level: then those
# keys alone, over PersimmonConfig's defaults)
FUYU_TEXT = {"vocab_size": 262144, "max_position_embeddings": 16384, "hidden_size": 4096,
             "intermediate_size": 16384, "num_hidden_layers": 36, "num_attention_heads": 64,
             "hidden_act": "relu2", "layer_norm_eps": 1e-5, "qk_layernorm": True}
# the top-level keys FuyuConfig moves into a text_config it builds (with the rope keys)
FUYU_FLAT = (*FUYU_TEXT, "initializer_range", "use_cache", "hidden_dropout",
             "attention_dropout", "eos_token_id", "rope_scaling", "rope_theta")
FUYU_IMAGE = {"image_size": 300, "patch_size": 30, "num_channels": 3}
# GotOcr2Config's text_config when it has none (a dict given: Qwen2Config's own defaults)
GOT_OCR2_TEXT = {"vocab_size": 151860, "hidden_size": 1024, "intermediate_size": 2816,
                 "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
                 "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
                 "rope_theta": 1000000.0, "use_sliding_window": False, "sliding_window": 4096,
                 "max_window_layers": 21}


def _text_config(c: Mapping[str, Any], wrapper: str, text_type: str,
                 default: Mapping[str, Any]) -> Mapping[str, Any]:
    """The wrapper's text_config: `default` when it is null or absent, else the dict (of
    `text_type`: transformers resolves another model_type to another decoder, refused)."""
    text = c.get("text_config")
    if text is None:
        return default
    if not isinstance(text, Mapping):
        raise UnsupportedConfigError(f"{wrapper} text_config {text!r}: expected a mapping")
    kind = text.get("model_type", text_type)
    if kind != text_type:
        raise UnsupportedConfigError(f"{wrapper} text_config model_type {kind!r}: zoo reads "
                                     f"the {text_type} decoder only")
    return text


def read_fuyu(c: Mapping[str, Any]) -> Config:
    """FuyuForCausalLM: Persimmon's decoder (its text_config; without one, the text keys at
    the top level, or FuyuConfig's defaults) and vision_embed_tokens, one biased linear from
    a flattened patch (patch_size^2 x num_channels) to the text width."""
    flat = {k: c[k] for k in FUYU_FLAT if k in c}
    text = _text_config(c, "fuyu", "persimmon", flat or FUYU_TEXT)
    tie = bool(c.get("tie_word_embeddings", False))
    out = read_persimmon({**text, "tie_word_embeddings": tie})
    image = {**FUYU_IMAGE, **{k: v for k, v in c.items() if k in FUYU_IMAGE and v is not None}}
    for key, value in image.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise UnsupportedConfigError(f"fuyu {key} {value!r}: expected one integer")
    patch = image["patch_size"] ** 2 * image["num_channels"]
    return text_decoder_of(out, "FuyuForCausalLM", "patch projection (vision_embed_tokens)",
                           patch * out["d_model"] + out["d_model"])


def read_got_ocr2(c: Mapping[str, Any]) -> Config:
    """GotOcr2ForConditionalGeneration: Qwen2's decoder (its text_config, or GotOcr2Config's
    default one), SAM's ViT (towers.got_ocr2_vision) and the projector: two 3x3 stride-2
    convolutions without bias (output_channels to twice that, then to the text width) and a
    biased linear at the text width."""
    text = _text_config(c, "got_ocr2", "qwen2", GOT_OCR2_TEXT)
    out = read_qwen2({**text, "tie_word_embeddings": bool(c.get("tie_word_embeddings", True))})
    vision = c.get("vision_config") or {}
    if not isinstance(vision, Mapping):
        raise UnsupportedConfigError(f"got_ocr2 vision_config {vision!r}: expected a mapping")
    channels = vision.get("output_channels") or GOT_OCR2_VISION["output_channels"]
    d = out["d_model"]
    projector = channels * 2 * channels * 9 + 2 * channels * d * 9 + d * d + d
    return text_decoder_of(out, "GotOcr2ForConditionalGeneration",
                           "SAM vision tower and projector", got_ocr2_vision(vision) + projector)


# GitConfig's defaults (microsoft/git-base) for every text key read below
GIT_TEXT = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 6,
            "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
            "max_position_embeddings": 1024, "layer_norm_eps": 1e-12,
            "tie_word_embeddings": False, "num_image_with_embedding": None}


def read_git(c: Mapping[str, Any]) -> Config:
    """GitForCausalLM: BERT's layers run causally over the image tokens and the text: learned
    positions and a LayerNorm after the token embedding; per layer biased q/k/v and output, a
    LayerNorm after the residual sum, the biased MLP and another LayerNorm after it; no final
    norm; a biased head (its weight tied by tie_word_embeddings, its bias its own). The image
    tokens ((image_size // patch_size)^2 + 1 per image, times num_image_with_embedding) come
    first and stay in the cache. The rest: GitVisionModel (towers.git_vision), the projection
    (a biased linear from the tower's width and a LayerNorm) and, with
    num_image_with_embedding, one tower-wide temporal embedding per image."""
    c = with_defaults(c, GIT_TEXT)
    width, heads = get(c, "hidden_size"), get(c, "num_attention_heads")
    if width % heads:
        raise UnsupportedConfigError(f"git hidden_size {width} is not a multiple of "
                                     f"num_attention_heads {heads}, as its class requires")
    vision = c.get("vision_config") or {}
    if not isinstance(vision, Mapping):
        raise UnsupportedConfigError(f"git vision_config {vision!r}: expected a mapping")
    tower = {**GIT_VISION, **{k: v for k, v in vision.items() if v is not None}}
    images = c["num_image_with_embedding"]
    if images is not None and (not isinstance(images, int) or isinstance(images, bool)
                               or images < 1):
        raise UnsupportedConfigError(f"git num_image_with_embedding {images!r}: expected null "
                                     f"or a positive integer")
    rest = git_vision(vision) + tower["hidden_size"] * width + width + 2 * width
    image_tokens = (tower["image_size"] // tower["patch_size"]) ** 2 + 1
    if images is not None:
        rest += images * tower["hidden_size"]
        image_tokens *= images
    out: Config = dict(
        n_layer=get(c, "num_hidden_layers"), d_model=width, n_head=heads, n_kv_head=heads,
        d_head=width // heads, d_ff=get(c, "intermediate_size"), vocab_size=get(c, "vocab_size"),
        context_length=get(c, "max_position_embeddings"), position="learned",
        activation=activation(c["hidden_act"], "git hidden_act"), norm="layernorm",
        norm_eps=get(c, "layer_norm_eps"), norm_position="post", final_norm=False,
        embedding_norm=True, bias=True, head_bias=True, cached_prefix=image_tokens,
        tie_embeddings=bool(c["tie_word_embeddings"]))
    return text_decoder_of(out, "GitForCausalLM", "CLIP vision tower and projection", rest)


# where write_config tries these entries among all (lowest first; see zoo.architectures):
# among the counted-only, none of them writes a config
PRIORITY = 907
ENTRIES = counted_entries({"fuyu": ("FuyuForCausalLM", "persimmon", read_fuyu),
                           "got_ocr2": ("GotOcr2ForConditionalGeneration", "qwen2",
                                        read_got_ocr2),
                           "git": ("GitForCausalLM", "openai-gpt", read_git)})
