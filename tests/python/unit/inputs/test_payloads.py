"""Request bodies per endpoint, built from a turn and the BodySpec of the run's options."""
from __future__ import annotations

from aiperf.config import make_config
from aiperf.inputs.dataset import Turn
from aiperf.inputs.endpoints import get_endpoint
from aiperf.inputs.input_images import InputImage
from aiperf.inputs.payloads import BodySpec, MultipartForm, build_payload, fill_history, history_hole

PNG = b"\x89PNG\r\n\x1a\nfake image bytes"


def test_body_spec_takes_the_options_bodies_depend_on():
    config = make_config(model="m1,m2", streaming=True, use_legacy_max_tokens=True, extra_inputs=["seed:7"],
                         endpoint_type="completions")
    assert BodySpec.from_config(config) == BodySpec(model="m1", streaming=True, use_legacy_max_tokens=True,
                                                    content_type="application/json", extra_body={"seed": 7})


def test_streaming_chat_turn_carries_the_history_as_holes_and_the_max_tokens_field():
    spec = BodySpec(model="m", streaming=True, extra_body={"temperature": 0.5})
    first, second = Turn(texts=["hi"]), Turn(texts=["and then?"], max_tokens=16, model="other")
    payload = build_payload(get_endpoint("chat"), second, spec, history=[first])
    assert payload == {
        "model": "other",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": history_hole(0)},
                     {"role": "user", "content": "and then?"}],
        "stream": True, "stream_options": {"include_usage": True}, "max_completion_tokens": 16, "temperature": 0.5,
    }
    assert fill_history(payload, ["hello"])["messages"][1]["content"] == "hello"


def test_legacy_max_tokens_and_endpoints_without_streaming():
    turn = Turn(texts=["a", "b"], max_tokens=8)
    chat = build_payload(get_endpoint("chat"), turn, BodySpec(model="m", use_legacy_max_tokens=True))
    assert chat["max_tokens"] == 8 and "max_completion_tokens" not in chat
    embeddings = build_payload(get_endpoint("embeddings"), turn, BodySpec(model="e", streaming=True))
    assert embeddings == {"model": "e", "input": ["a", "b"]}


def test_image_edit_sends_a_multipart_form_or_json_and_keeps_its_own_prompt():
    turn = Turn(texts=["make it blue"], image_inputs=[InputImage(data=PNG, mime_type="image/png")])
    spec = BodySpec(model="m", content_type="multipart/form-data", extra_body={"prompt": "ignored", "size": "64x64"})
    form = build_payload(get_endpoint("image_edit"), turn, spec)
    assert isinstance(form, MultipartForm)
    assert dict(form.fields) == {"prompt": "make it blue", "model": "m", "response_format": "b64_json", "n": "1",
                                 "size": "64x64"}
    assert form.files == [("image", "image.png", PNG, "image/png")]
    as_json = build_payload(get_endpoint("image_edit"), turn, BodySpec(model="m"))
    assert isinstance(as_json, dict) and as_json["image"].startswith("data:image/png;base64,")
