// The fault specs and plans (loopback/harness/faults.hpp): kinds, `--fault` parsing, counts,
// the adversaries' addresses and the churn plan. Pure: no socket, no clock. The adversarial
// peers themselves are in faults.cpp.
#include "loopback/harness/faults.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <stdexcept>
#include <system_error>

namespace p2pdist::loopback {

std::string_view to_string(fault_kind kind) noexcept {
  switch (kind) {
    case fault_kind::corrupt: return "corrupt";
    case fault_kind::drop: return "drop";
    case fault_kind::stall: return "stall";
    case fault_kind::garbage: return "garbage";
    case fault_kind::slowloris: return "slowloris";
    case fault_kind::chatter: return "chatter";
    case fault_kind::churn: return "churn";
  }
  return "unknown";
}

std::optional<fault_kind> parse_fault_kind(std::string_view text) noexcept {
  for (const auto k : all_fault_kinds)
    if (to_string(k) == text) return k;
  return std::nullopt;
}

fault_spec parse_fault(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const auto kind = parse_fault_kind(name);
  if (!kind)
    throw std::invalid_argument("'" + std::string(name) +
                                "' is not a fault kind (use corrupt, drop, stall, garbage, slowloris, chatter or churn, "
                                "optionally with :COUNT)");
  fault_spec spec{.kind = *kind};
  if (colon != std::string_view::npos) {
    const std::string_view count = text.substr(colon + 1);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), value);
    if (count.empty() || ec != std::errc{} || end != count.data() + count.size() || value < 1)
      throw std::invalid_argument("'" + std::string(text) + "': COUNT must be a whole number of at least 1 (KIND[:COUNT])");
    spec.count = value;
  }
  return spec;
}

std::size_t fault_peer_count(const std::vector<fault_spec>& faults) {
  std::size_t n = 0;
  for (const auto& f : faults)
    if (f.kind != fault_kind::churn) n += f.count;
  return n;
}

std::size_t churn_count(const std::vector<fault_spec>& faults) {
  std::size_t n = 0;
  for (const auto& f : faults)
    if (f.kind == fault_kind::churn) n += f.count;
  return n;
}

std::array<std::uint8_t, 4> fault_address(std::size_t j) { return {127, 0, 200, static_cast<std::uint8_t>(1 + j)}; }

bool is_fault_address(const bt::ip_address& ip) noexcept {
  if (!ip.is_v4()) return false;
  const auto v4 = ip.to_v4();
  return v4[0] == 127 && v4[1] == 0 && v4[2] == 200;
}

std::vector<churn_entry> plan_churn(std::size_t leechers, std::size_t churners, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> fraction(0.2, 0.8);
  std::vector<churn_entry> plan;
  for (std::size_t i = 0; i < std::min(leechers, churners); ++i)
    plan.push_back({.leecher = i, .leave_at_fraction = fraction(rng)});
  return plan;
}

}  // namespace p2pdist::loopback
