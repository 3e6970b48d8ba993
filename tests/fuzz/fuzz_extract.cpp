// libFuzzer target: the response extractor (simdjson on-demand over OpenAI-style JSON) and the base64 check.
// Any bytes must parse without a crash, and the copying and in-place paths must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "aiperf/engine/extract.hpp"

namespace {

bool same(const aiperf::ResponseFields& a, const aiperf::ResponseFields& b) {
  return a.content == b.content && a.reasoning == b.reasoning && a.usage_prompt_tokens == b.usage_prompt_tokens &&
         a.usage_completion_tokens == b.usage_completion_tokens &&
         a.usage_reasoning_tokens == b.usage_reasoning_tokens && a.num_images == b.num_images &&
         a.error_message == b.error_message && a.image_error == b.image_error;
}

bool reference_base64(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool alphabet =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      if (i + 2 < text.size()) return false;  // '=' only in the last two places
      ++padding;
    } else if (!alphabet || padding > 0) {
      return false;
    }
  }
  return padding <= 2;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static aiperf::ResponseExtractor copying;  // reused across inputs, as each loop thread reuses its own
  static aiperf::ResponseExtractor in_place;
  const std::string_view document(reinterpret_cast<const char*>(data), size);

  aiperf::ResponseFields copied;
  const aiperf::ExtractStatus copied_status = copying.extract(document, copied);

  // The in-place path: the document followed by readable padding, as a receive buffer provides.
  std::string padded(document);
  padded.append(aiperf::ResponseExtractor::in_place_padding_bytes(), ' ');
  aiperf::ResponseFields parsed_in_place;
  const aiperf::ExtractStatus in_place_status = in_place.extract(std::string_view(padded.data(), size), parsed_in_place,
                                                                 aiperf::ResponseExtractor::in_place_padding_bytes());

  if (copied_status != in_place_status || !same(copied, parsed_in_place)) std::abort();
  if (aiperf::is_valid_base64(document) != reference_base64(document)) std::abort();
  return 0;
}
