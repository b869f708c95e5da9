#pragma once
// Units: sizes in bits, rates in bits per second, times in seconds. Parsing and printing
// with SI (k, M, G, T = powers of ten) and IEC (Ki, Mi, Gi, Ti = powers of two) prefixes,
// in bits or bytes. Bits versus bytes is this project's easiest bug: every value the
// model sees is in bits (or bits/s).

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace p2pdist::model {

/// A user-supplied value that is not a valid size or rate; what() says why, without the
/// flag name (the caller adds it).
class unit_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Parses a size into bits: "15Gbit", "2GB", "32MiB", "16KiB", "300kbit", "1e6" (bare
/// numbers are bits). Suffix b/bit/bits = bits, B/byte/bytes = bytes (×8). Throws
/// unit_error for a malformed, negative, non-finite or unknown-unit value. Zero is allowed.
double parse_size_bits(std::string_view text);

/// Parses a rate into bits/s: "30Mbps", "300kbps", "2MB/s", "4MiB/s", "10Mbit/s", "1e6"
/// (bare numbers are bits/s). Throws unit_error like parse_size_bits. Zero is allowed.
double parse_rate_bps(std::string_view text);

/// Like parse_rate_bps, but also accepts "unlimited" or "inf", returned as +infinity.
double parse_rate_or_unlimited_bps(std::string_view text);

/// Parses a duration into seconds: "5s", "500ms", "2min", "1h", "1.5" (bare numbers are
/// seconds). Throws unit_error like parse_size_bits. Zero is allowed.
double parse_duration_seconds(std::string_view text);

/// Splits a comma-separated list ("300kbps,700kbps, 2Mbps") and parses each item with
/// `parse`. Throws unit_error naming the 1-based item that failed, or for an empty item.
std::vector<double> parse_list(std::string_view text, double (*parse)(std::string_view));

/// "15 Gbit", "32 MiB"-style printing: SI prefixes over bits, 3 significant digits.
std::string format_bits(double bits);
/// "30 Mbps", "2.5 kbps"; "unlimited" for +infinity.
std::string format_bps(double bps);
/// A duration for humans: "7500 s (2 h 05 min)", "0.5 s", "12.3 ms".
std::string format_seconds(double seconds);

}  // namespace p2pdist::model
