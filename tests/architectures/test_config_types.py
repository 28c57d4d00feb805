"""config.json values of the wrong JSON type, and JSON nested too deep: one error naming the
field (or the file), on the command line too, with --json a JSON error object."""

from __future__ import annotations

import json

import pytest

from zoo.architectures import UnsupportedConfigError, spec_from_config
from zoo.cli import main

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256}

WRONG = [
    ({"rope_scaling": "linear"}, "field rope_scaling is 'linear'; expected an object"),
    ({"rope_scaling": [1, 2]}, "field rope_scaling is [1, 2]; expected an object"),
    ({"rope_parameters": "x"}, "field rope_parameters is 'x'; expected an object"),
    ({"rope_scaling": {"rope_type": "linear", "factor": "2"}},
     "field rope_scaling.factor is '2'; expected a number"),
    ({"quantization_config": "gptq"}, "field quantization_config is 'gptq'; expected an object"),
    ({"hidden_size": "64"}, "field hidden_size is '64'; expected an integer"),
    ({"num_hidden_layers": True}, "field num_hidden_layers is True; expected an integer"),
    ({"rope_theta": "1e4"}, "field rope_theta is '1e4'; expected a number"),
    ({"tie_word_embeddings": "yes"}, "field tie_word_embeddings is 'yes'; expected true or "
                                     "false"),
    ({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
      "text_config": "x"}, "field text_config is 'x'; expected an object"),
    ({"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
      "text_config": {"rope_scaling": 4}}, "field text_config.rope_scaling is 4; expected an "
                                           "object"),
]


@pytest.mark.parametrize(("change", "message"), WRONG, ids=lambda v: str(v)[:30])
def test_a_value_of_the_wrong_json_type_is_named(change, message):
    with pytest.raises(UnsupportedConfigError, match=f"^{message.replace('[', '.')} \\(or null\\)"):
        spec_from_config({**LLAMA, **change})


def test_null_means_the_default():
    spec = spec_from_config({**LLAMA, "rope_scaling": None, "rope_theta": None})
    assert spec.n_layer == 2


def run_json(args, capsys):
    code = main([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_command_line_names_the_field_and_the_file(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({**LLAMA, "rope_scaling": "linear"}))
    code, out = run_json(["show", str(tmp_path)], capsys)
    assert code == 2
    assert out["error"]["message"] == (f"{tmp_path / 'config.json'}: field rope_scaling is "
                                       f"'linear'; expected an object (or null)")


def test_a_config_nested_100000_deep_is_one_json_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    code, out = run_json(["show", str(tmp_path)], capsys)
    assert code == 2
    assert out["error"]["message"] == (f"{tmp_path / 'config.json'} nests JSON 100,000 deep; "
                                       f"zoo reads JSON nested at most 64 deep")
    from zoo.files.errors import json_depth

    assert json_depth('{"a": "[[[{{\\"[[", "b": [[1]]}') == 3  # brackets in strings are text
